// Package nat is pure: a model of NAT behaviour (RFC 4787 mapping and filtering) and
// the logic that decides, for two hidden WireGuard peers behind NATs, whether a direct
// UDP path can be punched through both, and when a punched path is promoted over the
// relay, demoted back to it, held down, or given up with a reason.
//
// Nothing here touches the kernel, the network or the clock: callers pass the time and
// what they observed, and keep the returned state. Every function is safe for
// concurrent use; values are plain data.
package nat
