// Command llm-agent is the AI agent: it answers chat turns with Claude on
// Bedrock (or without a model, in Direct mode), calling the Weather API
// with its Entra agent identity: autonomously, on behalf of the signed-in
// user, or as its agent user. See the README's llm-agent section.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/crosscloud-agentid/agentid/internal/chatapi"
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
	if err := chatapi.Run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "llm-agent:", err)
		os.Exit(1)
	}
}
