// Package repocheck holds tests about the repository as a whole rather than one
// package: every relative link in a file names a file that is there and nothing
// names files outside the repository (links_test.go), and the files under dist/
// work with the code (dist_test.go). It has no code of its own.
package repocheck
