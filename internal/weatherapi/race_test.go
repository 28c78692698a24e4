//go:build race

package weatherapi_test

// raceEnabled: allocation counts mean nothing under the race detector.
const raceEnabled = true
