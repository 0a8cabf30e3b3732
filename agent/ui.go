package agent

import (
	"html/template"
	"net/http"
	"time"

	"github.com/grapevine-sd/grapevine/api"
	"github.com/grapevine-sd/grapevine/catalog"
)

// uiPage is a small read-only status page: this agent, its services and
// instances, and the members. It refreshes itself every 5 s and needs no
// JavaScript or assets.
var uiPage = template.Must(template.New("ui").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Grapevine · {{.Self.Node}}</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:20px} h2{font-size:16px;margin-top:2em}
table{border-collapse:collapse} td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}
.passing{color:#1a7f37}.warning{color:#9a6700}.critical{color:#cf222e}.maintenance{color:#6e7781}
.stale{background:#fff8c5} code{font-size:12px}
</style></head><body>
<h1>Grapevine agent {{.Self.Node}}</h1>
<p>version {{.Self.Version}} · epoch {{.Self.Epoch}} · catalog hash <code>{{.Self.Catalog.Hash}}</code> ·
{{.Self.Catalog.Instances}} instances in {{.Self.Catalog.Services}} services from {{.Self.Catalog.Origins}} agents ·
members {{.Self.Members.Alive}} alive, {{.Self.Members.Suspect}} suspect, {{.Self.Members.Failed}} failed, {{.Self.Members.Left}} left
{{if .Self.Preservation.Active}}· <b>self-preservation active</b> ({{.Self.Preservation.Unreachable}}/{{.Self.Preservation.Known}} unreachable){{end}}</p>
<h2>Services</h2>
{{range .Services}}<h3>{{.Name}}</h3>
<table><tr><th>id</th><th>node</th><th>address</th><th>health</th><th>zone</th><th>tags</th><th>output</th></tr>
{{range .Instances}}<tr{{if .Stale}} class="stale" title="owner unreachable for {{.Age}}"{{end}}>
<td>{{.ID}}</td><td>{{.Node}}</td><td>{{.Address}}:{{.Port}}</td><td class="{{.Health}}">{{.Health}}{{if .Stale}} (stale){{end}}</td>
<td>{{.Zone}}</td><td>{{range .Tags}}{{.}} {{end}}</td><td><code>{{.Output}}</code></td></tr>{{end}}
</table>{{else}}<p>No services yet. Register one: <code>grapevine register -name web -port 8080</code></p>{{end}}
<h2>Members</h2>
<table><tr><th>name</th><th>address</th><th>status</th><th>zone</th><th>rtt</th></tr>
{{range .Members}}<tr><td>{{.Name}}</td><td>{{.Addr}}:{{.Port}}</td><td>{{.Status}}</td><td>{{.Zone}}</td><td>{{if .RTTMillis}}{{.RTTMillis}} ms{{else}}-{{end}}</td></tr>{{end}}
</table>
<p><a href="/v1/agent/self">/v1/agent/self</a> · <a href="/v1/services">/v1/services</a> · <a href="/metrics">/metrics</a> · rendered {{.Now}}</p>
</body></html>`))

type uiService struct {
	Name      string
	Instances []api.Instance
}

func (h *httpServer) ui(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Self     api.AgentSelf
		Services []uiService
		Members  []api.Member
		Now      string
	}{Self: h.a.Self(), Members: h.a.Members(), Now: time.Now().Format(time.RFC3339)}
	for _, s := range h.a.cat.Services() {
		us := uiService{Name: s.Name}
		for _, e := range h.a.cat.Service(s.Name, catalog.Filter{Health: catalog.HealthAny}).Entries {
			us.Instances = append(us.Instances, h.a.toAPI(e))
		}
		data.Services = append(data.Services, us)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := uiPage.Execute(w, data); err != nil {
		h.a.log.Debug().Err(err).Msg("ui render")
	}
}
