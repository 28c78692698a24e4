package bedrock

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// conversationRoles follows the newest Converse API reference
// (API_runtime_Message lists user, assistant and system), not botocore
// 1.43's enum (user and assistant only), so that cloudsim never refuses
// what the current API accepts.
var conversationRoles = []string{"user", "assistant", "system"}

func validation(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationException", fmt.Sprintf(format, args...)}
}

// validateMessages checks a conversation as Converse does, with AWS's
// messages (as quoted in public bug reports: langgenius/dify#12340 for the
// first message, langchain-ai/langchainjs#6724 for alternation,
// aws-samples/bedrock-engineer#8 for blank text).
func validateMessages(req converseRequest) *apiError {
	var last string
	for i, m := range req.Messages {
		if !slices.Contains(conversationRoles, m.Role) {
			return validation("1 validation error detected: Value '%s' at 'messages.%d.member.role' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
				m.Role, i+1, strings.Join(conversationRoles, ", "))
		}
		if m.Role == "system" {
			continue
		}
		switch {
		case last == "" && m.Role != "user":
			return validation("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
		case m.Role == last:
			return validation("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.")
		case len(m.Content) == 0:
			return validation("The content field in the Message object at messages.%d is empty. Add a ContentBlock object to the content field and try again.", i)
		}
		for j, b := range m.Content {
			if b.Text != nil && strings.TrimSpace(*b.Text) == "" {
				return validation("The text field in the ContentBlock object at messages.%d.content.%d is blank. Add text to the text field, and try again.", i, j)
			}
		}
		last = m.Role
	}
	if last == "" {
		return validation("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
	}
	return nil
}
