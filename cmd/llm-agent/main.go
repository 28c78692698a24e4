// Command llm-agent is the AI agent: it answers chat turns with Claude on
// Bedrock (or without a model, in Direct mode), calling the Weather API
// with its Entra agent identity: autonomously, on behalf of the signed-in
// user, or as its agent user. See docs/llm-agent.md.
package main

import (
	"context"
	"os"

	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/command"
)

// version is stamped by the image builds (-ldflags -X main.version=…).
var version = "dev"

func main() {
	command.Main("llm-agent", version, func(ctx context.Context, args []string) error {
		return chatapi.Run(ctx, args, os.Getenv, os.Stderr)
	})
}
