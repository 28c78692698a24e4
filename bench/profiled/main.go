// Command profiled is weather-api with a CPU profile, for finding where a
// request's time goes under load (bench/weather-api.sh with
// BENCH_CPUPROFILE=FILE): it runs weatherapi.Run exactly as cmd/weather-api
// does, from the same environment, and writes the profile of its whole
// life to the file named by its first argument when it stops (SIGINT or
// SIGTERM); with ALLOCS_PROFILE=FILE in its environment, its allocation
// profile too. The production binary has no profiling endpoint and never
// gets one; read a profile with go tool pprof -top FILE.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: profiled PROFILE_FILE [weather-api flags]")
		os.Exit(2)
	}
	out, err := os.Create(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "profiled:", err)
		os.Exit(1)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		fmt.Fprintln(os.Stderr, "profiled:", err)
		os.Exit(1)
	}
	os.Args = append(os.Args[:1], os.Args[2:]...)
	command.Main("weather-api (profiled)", "bench", func(ctx context.Context, args []string) error {
		defer func() {
			pprof.StopCPUProfile()
			out.Close()
			if path := os.Getenv("ALLOCS_PROFILE"); path != "" {
				if f, err := os.Create(path); err == nil {
					pprof.Lookup("allocs").WriteTo(f, 0)
					f.Close()
				}
			}
		}()
		return weatherapi.Run(ctx, args, os.Getenv, os.Stderr)
	})
}
