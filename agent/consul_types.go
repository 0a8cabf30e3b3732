package agent

// The JSON shapes of Consul's HTTP API that the compatible listener speaks
// (field names and nesting as Consul's clients decode them). Only what
// Grapevine can fill honestly is here; docs/consul.md lists what is left out.

// consulWeights is Consul's DNS SRV weights of a service.
type consulWeights struct {
	Passing int
	Warning int
}

// consulAgentService is a service instance (agent/services, agent/service/:id,
// health/service's Service, catalog/node's Services).
type consulAgentService struct {
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Address           string
	Weights           consulWeights
	EnableTagOverride bool
	Datacenter        string `json:",omitempty"`
	ContentHash       string `json:",omitempty"`
	CreateIndex       uint64 `json:",omitempty"`
	ModifyIndex       uint64 `json:",omitempty"`
}

// consulNode is a node of the catalog (an agent, in Grapevine).
type consulNode struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	CreateIndex     uint64
	ModifyIndex     uint64
}

// consulCheckDefinition is the Definition of a health check.
type consulCheckDefinition struct {
	HTTP                           string              `json:",omitempty"`
	Header                         map[string][]string `json:",omitempty"`
	Method                         string              `json:",omitempty"`
	TLSSkipVerify                  bool                `json:",omitempty"`
	TCP                            string              `json:",omitempty"`
	GRPC                           string              `json:",omitempty"`
	GRPCUseTLS                     bool                `json:",omitempty"`
	ScriptArgs                     []string            `json:",omitempty"`
	Interval                       string              `json:",omitempty"`
	Timeout                        string              `json:",omitempty"`
	TTL                            string              `json:",omitempty"`
	DeregisterCriticalServiceAfter string              `json:",omitempty"`
}

// consulHealthCheck is a check as health/* and agent/checks list it.
type consulHealthCheck struct {
	Node        string
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	ExposedPort int
	Definition  consulCheckDefinition
	CreateIndex uint64
	ModifyIndex uint64
}

// consulServiceEntry is one element of health/service/:name.
type consulServiceEntry struct {
	Node    consulNode
	Service consulAgentService
	Checks  []consulHealthCheck
}

// consulCatalogService is one element of catalog/service/:name.
type consulCatalogService struct {
	ID                       string
	Node                     string
	Address                  string
	Datacenter               string
	TaggedAddresses          map[string]string
	NodeMeta                 map[string]string
	ServiceID                string
	ServiceName              string
	ServiceAddress           string
	ServiceTags              []string
	ServiceMeta              map[string]string
	ServicePort              int
	ServiceWeights           consulWeights
	ServiceEnableTagOverride bool
	CreateIndex              uint64
	ModifyIndex              uint64
}

// consulCatalogNode is catalog/node/:node.
type consulCatalogNode struct {
	Node     consulNode
	Services map[string]consulAgentService
}

// consulMember is one element of agent/members (a Serf member in Consul).
type consulMember struct {
	Name        string
	Addr        string
	Port        uint16
	Tags        map[string]string
	Status      int
	ProtocolMin uint8
	ProtocolMax uint8
	ProtocolCur uint8
	DelegateMin uint8
	DelegateMax uint8
	DelegateCur uint8
}

// Serf member statuses as Consul reports them.
const (
	consulMemberAlive  = 1
	consulMemberLeft   = 3
	consulMemberFailed = 4
)
