// Command weather-api is the downstream API of the demo: it answers weather
// questions only for callers whose Entra access token passes its policy,
// and reports who it decided the caller was. See the README's settings.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

// version is stamped by the image builds (-ldflags -X main.version=…).
var version = "dev"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-version" {
		fmt.Println(version)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := weatherapi.Run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "weather-api:", err)
		os.Exit(1)
	}
}
