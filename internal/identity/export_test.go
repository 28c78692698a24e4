package identity

// SidecarFlight is how many sidecar calls a provider runs and how many
// requests wait on them.
func SidecarFlight(p Provider) (calls, waiting int) { return p.(*SidecarProvider).flight.InFlight() }
