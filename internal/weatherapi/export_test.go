package weatherapi

// QueryValue exposes queryValue to the external tests.
var QueryValue = queryValue
