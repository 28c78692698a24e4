package identity

// hints name the likely fix for AADSTS codes an agent's token request can
// meet; shared by both providers, since the sidecar relays Entra's message.
var hints = map[int]string{
	65001:   "grant admin consent for the agent identity on the Weather API (WEATHER_API_SCOPE), or for the SPA on the blueprint's access_as_user",
	50013:   "the user's token must be for the blueprint: sign in with scope api://<BLUEPRINT_APP_ID>/access_as_user",
	500133:  "the user's token expired: sign in again",
	50034:   "the agent user does not exist: check AGENT_USER_UPN",
	7000215: "BLUEPRINT_CLIENT_SECRET is not the blueprint's secret value",
	700016:  "check BLUEPRINT_APP_ID, AGENT_CLIENT_ID and TENANT_ID",
	700211:  "the blueprint's federated credential must have the assertion's issuer: the managed identity's token issuer, or with aws-web-identity the AWS account's outbound issuer; one added minutes ago may still be replicating",
	700212:  "the blueprint's federated credential must have the audience api://AzureADTokenExchange",
	700213:  "the blueprint's federated credential must trust this subject: the managed identity (check MANAGED_IDENTITY_CLIENT_ID), or with aws-web-identity the role's ARN; one added minutes ago may still be replicating",
	82001:   "the blueprint asked for its own app token: the agent identity was not used (on the sidecar, set Sidecar__AllowOverrides__GetAuthorizationHeaderUnauthenticated=true)",
	82002:   "the blueprint asked for its own OBO token: the agent identity was not used (on the sidecar, set Sidecar__AllowOverrides__GetAuthorizationHeader=true)",
	70011:   "check WEATHER_API_APP_ID and WEATHER_API_SCOPE (or the sidecar's DownstreamApis__<name>__Scopes)",
	500011:  "check WEATHER_API_APP_ID (or the sidecar's DownstreamApis__<name>__Scopes)",
	90002:   "check TENANT_ID",
}

// mcpHints replace hints for a token for the MCP server.
var mcpHints = map[int]string{
	65001:  "the user, or an admin for everyone, must consent to the agent identity's MCP scopes (MCP_SCOPES) on the MCP server",
	70011:  "check MCP_SCOPES (or the sidecar's DownstreamApis__<SIDECAR_MCP_API>__Scopes): the MCP server publishes MCP.* scopes such as MCP.User.Read.All",
	500011: "check MCP_APP_ID: the MCP server's app must be in the tenant (its service principal is created when it is provisioned)",
}

// withHint appends the hint for code to msg, if there is one.
func withHint(msg string, code int, target Target) string {
	if h, ok := mcpHints[code]; ok && target == MCPServer {
		return msg + " (" + h + ")"
	}
	if h, ok := hints[code]; ok {
		return msg + " (" + h + ")"
	}
	return msg
}
