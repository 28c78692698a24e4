package bedrock

// The bounds of the received-requests record, for the tests.
const (
	MaxReceived      = maxReceived
	MaxReceivedBody  = maxReceivedBody
	MaxReceivedBytes = maxReceivedBytes
)
