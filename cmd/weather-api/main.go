// Command weather-api is the downstream API of the demo: it answers weather
// questions only for callers whose Entra access token passes its policy,
// and reports who it decided the caller was. See docs/weather-api.md and docs/settings.md.
package main

import (
	"context"
	"os"

	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

// version is stamped by the image builds (-ldflags -X main.version=…).
var version = "dev"

func main() {
	command.Main("weather-api", version, func(ctx context.Context, args []string) error {
		return weatherapi.Run(ctx, args, os.Getenv, os.Stderr)
	})
}
