//go:build !race

package jwtauth_test

// raceEnabled: allocation counts mean nothing under the race detector.
const raceEnabled = false
