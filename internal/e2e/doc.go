// Package e2e holds the end-to-end tests and benchmarks of the whole stack in a booted
// zoslab lab (root): the real binaries, built from this module, on the default farm and
// on the 20-node spec, and with VM nodes booting the node image under qemu (vm_*_test.go),
// driven through the steps of package lab/scenario. It has tests only; this file is its
// documentation.
package e2e
