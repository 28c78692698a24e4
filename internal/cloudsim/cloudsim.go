// Package cloudsim runs the local stand-ins for the cloud endpoints the
// product uses (Entra, the managed identity endpoint, AWS STS, Bedrock, the
// MCP server, and the auth sidecar on a listener of its own), on loopback,
// over TLS signed by a local dev CA. Production binaries never import it:
// they reach it through the standard endpoint overrides written to
// cloudsim.env.
package cloudsim

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/atomicfile"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/agentcoreid"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsiam"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awssts"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/bedrock"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/devca"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/entra"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/graph"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/mcpserver"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/sidecar"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/signing"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
)

// EnvFile is the name of the settings file cloudsim writes in its folder.
const EnvFile = "cloudsim.env"

// Options configure a cloudsim.
type Options struct {
	Addr          string // HTTPS listener, e.g. 127.0.0.1:8443 (port 0 picks one)
	IdentityAddr  string // plain-HTTP managed identity listener
	Dir           string // state folder: CA, keys, cloudsim.env
	Tenant        *tenant.Directory
	SANs          []string      // extra names for the serving certificate
	ExtraRoots    string        // a PEM file added to ca-bundle.pem (usually $SSL_CERT_FILE)
	TrustDir      string        // where to publish ca.pem and ca-bundle.pem alone, for clients that must not see the keys ("": nowhere)
	TokenLifetime time.Duration // 0: a random 60 to 90 minutes
	// DeviceCodeInterval is the polling interval the device code flow
	// gives clients (0: Entra's 5 seconds).
	DeviceCodeInterval time.Duration
	// DeviceCodesPerMinute is how many device codes one client address may
	// start a minute (0: entra.DefaultDeviceCodesPerMinute, 30).
	DeviceCodesPerMinute int
	// ReplicationDelay is how long an application, agent identity or
	// federated credential that Microsoft Graph created stays unknown to the token endpoint, as on
	// a real tenant (0: none, the demo's setting).
	ReplicationDelay time.Duration
	// SidecarAddr, when set, also serves the auth sidecar stand-in there
	// (loopback), configured from the tenant file; WeatherAPIURL is the
	// base URL of its downstream API entries.
	SidecarAddr   string
	WeatherAPIURL string
	// IdentityHeader, when set, is the managed identity endpoint's header
	// secret instead of the state folder's random one.
	IdentityHeader string
	// AddrSetting names the flag that sets Addr, for a busy-port error
	// (default -addr; the demo's is -cloudsim-addr).
	AddrSetting string
	Logger      *slog.Logger
	// Now is the clock of Entra, STS and Bedrock (nil: time.Now), so a
	// test can move them past an expiry that real clients then meet.
	Now func() time.Time
}

// crossSiteForm reports a browser's POST from another origin to a page a
// person or a test drives: the sign-in and consent forms (a forged post
// would sign the browser in as someone else) and the /_cloudsim switches.
// Entra defends its forms with per-flow tokens; an Origin check refuses
// the same requests. The token endpoint stays open to SPAs on other
// origins, as Entra's is. Clients that send no Origin are not browsers.
func crossSiteForm(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	p := r.URL.Path
	form := strings.HasSuffix(p, "/oauth2/v2.0/authorize") || strings.HasSuffix(p, "/v2.0/adminconsent") || p == "/devicelogin" || strings.HasPrefix(p, "/_cloudsim/")
	origin := r.Header.Get("Origin")
	return form && origin != "" && origin != "https://"+r.Host
}

// Sim is a running cloudsim.
type Sim struct {
	URL              string // https://host:port, the AZURE_AUTHORITY_HOST
	Addr             string // the address the HTTPS listener is bound to
	IdentityEndpoint string
	IdentityHeader   string
	Dir              string
	CA               *devca.Authority
	Entra            *entra.Server
	// Live is the tenant as Microsoft Graph changes it; Tenant is the
	// tenant file it started from.
	Live    *tenant.Live
	IAM     *awsiam.Account // nil when the tenant file has no aws section
	STS     *awssts.Server  // nil when the tenant file has no aws section
	Bedrock *bedrock.Server // nil when the tenant file has no aws section
	// AgentCoreIdentity is AgentCore Identity (workload identities, OAuth2
	// credential providers, the token vault); nil without an aws section.
	AgentCoreIdentity *agentcoreid.Server
	SidecarURL        string // "" when no sidecar runs
	Tenant            *tenant.Directory
	Keys              *signing.Keys

	servers []*http.Server
	done    chan error     // a listener that stopped by itself
	serving sync.WaitGroup // the serve calls, which Close waits for
	// sidecarOut is the sidecar's transport to Entra, whose spare
	// connections would otherwise hold the shutdown of cloudsim's own
	// server for 5 s.
	sidecarOut *http.Transport
}

// Start prepares the state folder, listens and serves in the background.
func Start(o Options) (*Sim, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.AddrSetting == "" {
		o.AddrSetting = "-addr"
	}
	// Everything that can fail before serving is done before listening, so
	// a failed start leaves no port taken.
	s, outboundKeys, err := openState(o)
	if err != nil {
		return nil, err
	}
	ln, err := httpserver.Listen("cloudsim", o.AddrSetting, o.Addr)
	if err != nil {
		return nil, err
	}
	miLn, err := httpserver.Listen("managed identity endpoint", "-identity-addr", o.IdentityAddr)
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.URL = httpserver.ListenerURL("https", ln)
	s.Addr = ln.Addr().String()
	s.IdentityEndpoint = httpserver.ListenerURL("http", miLn) + "/msi/token"
	root := s.services(o, outboundKeys)
	logErrors := slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)
	web := &http.Server{
		Handler:           root,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{s.CA.ServerCert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          logErrors,
	}
	mi := &http.Server{Handler: s.Entra.ManagedIdentityHandler(s.IdentityHeader), ReadHeaderTimeout: 10 * time.Second, ErrorLog: logErrors}
	// Each server with the call that serves it, started once all is ready.
	serve := []func() error{
		func() error { return web.ServeTLS(ln, "", "") },
		func() error { return mi.Serve(miLn) },
	}
	s.servers = []*http.Server{web, mi}
	listeners := []net.Listener{ln, miLn}
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	if o.SidecarAddr != "" {
		side, sideLn, err := s.startSidecar(o)
		if err != nil {
			closeAll()
			return nil, err
		}
		s.servers = append(s.servers, side)
		listeners = append(listeners, sideLn)
		serve = append(serve, func() error { return side.Serve(sideLn) })
		s.SidecarURL = httpserver.ListenerURL("http", sideLn)
	}
	if err := s.writeEnv(); err != nil {
		closeAll()
		return nil, err
	}
	s.done = make(chan error, len(serve))
	for _, f := range serve {
		s.serving.Go(func() {
			if err := ignoreClosed(f()); err != nil {
				s.done <- err
			}
		})
	}
	return s, nil
}

// openState reads or creates what the state folder keeps: the dev CA,
// Entra's signing keys, the managed identity header, and the AWS account
// issuer's own keys (GetWebIdentityToken) when the tenant has an account.
func openState(o Options) (_ *Sim, outboundKeys *signing.Keys, err error) {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, nil, err
	}
	s := &Sim{Dir: dir, Tenant: o.Tenant, IdentityHeader: o.IdentityHeader}
	if s.CA, err = devca.Ensure(dir, o.SANs, o.ExtraRoots); err != nil {
		return nil, nil, err
	}
	if o.TrustDir != "" {
		if err := s.CA.Publish(o.TrustDir); err != nil {
			return nil, nil, err
		}
	}
	if s.Keys, err = signing.Open(filepath.Join(dir, "signing-keys.json")); err != nil {
		return nil, nil, err
	}
	if s.IdentityHeader == "" {
		if s.IdentityHeader, err = identityHeader(dir); err != nil {
			return nil, nil, err
		}
	}
	if o.Tenant.AWS != nil {
		if outboundKeys, err = signing.Open(filepath.Join(dir, "aws-outbound-keys.json")); err != nil {
			return nil, nil, err
		}
		if s.IAM, err = awsiam.NewAccount(o.Tenant.AWS, o.Now); err != nil {
			return nil, nil, fmt.Errorf("tenant file: %w", err)
		}
		if err := writeAWSCredentials(filepath.Join(dir, AWSCredentialsFile), s.IAM.Users()); err != nil {
			return nil, nil, err
		}
	}
	return s, outboundKeys, nil
}

// AWSCredentialsFile is the shared credentials file, in the state folder,
// holding the keys of the tenant file's IAM users that have a profile.
// It is kept out of cloudsim.env on purpose: static keys there would come
// first in the SDK's default chain and silently bypass web identity.
const AWSCredentialsFile = "aws-credentials"

func writeAWSCredentials(path string, users []awsiam.User) error {
	var b strings.Builder
	b.WriteString("# cloudsim's IAM users, for the setup scripts: AWS_SHARED_CREDENTIALS_FILE=<this file> AWS_PROFILE=<a profile>.\n" +
		"# Local keys of a local emulator; never give them to llm-agent or the refresher.\n")
	for _, u := range users {
		if u.Profile != "" {
			fmt.Fprintf(&b, "\n[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", u.Profile, u.AccessKeyID, u.Secret)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// services builds Entra, STS, Bedrock and the MCP server on s's keys, and
// the handler that serves them.
func (s *Sim) services(o Options, outboundKeys *signing.Keys) http.Handler {
	stats := entra.NewStats()
	s.STS = awssts.New(awssts.Options{
		Directory:    o.Tenant,
		Account:      s.IAM,
		Keys:         s.Keys,
		OutboundKeys: outboundKeys,
		Logger:       o.Logger.With("service", "sts"),
		Stats:        stats,
		Now:          o.Now,
	})
	federated := map[string]func(string) ([]byte, error){}
	if s.STS != nil && s.STS.OutboundIssuer() != "" {
		federated[s.STS.OutboundIssuer()] = s.STS.VerifyOutbound
	}
	s.Live = tenant.NewLive(o.Tenant, o.Now, o.ReplicationDelay)
	s.Entra = entra.New(entra.Options{
		Live:                 s.Live,
		Keys:                 s.Keys,
		TokenLifetime:        o.TokenLifetime,
		Logger:               o.Logger.With("service", "entra"),
		Stats:                stats,
		Federated:            federated,
		Now:                  o.Now,
		DeviceCodeInterval:   o.DeviceCodeInterval,
		DeviceCodesPerMinute: o.DeviceCodesPerMinute,
	})
	mux := http.NewServeMux()
	s.Entra.Register(mux)
	var stsHandler, iamHandler http.Handler
	if s.STS != nil {
		s.STS.Register(mux)
		iam := awsiam.NewServer(awsiam.Options{Account: s.IAM, Authorizer: s.STS, Now: o.Now,
			Logger: o.Logger.With("service", "iam"), Count: stats.Add})
		iam.Register(mux)
		stsHandler, iamHandler = s.STS, iam
		s.Bedrock = bedrock.New(bedrock.Options{Region: o.Tenant.AWS.Region, Account: o.Tenant.AWS.AccountID, InferenceProfiles: o.Tenant.AWS.InferenceProfiles,
			Credentials: s.STS, APIKeys: o.Tenant.AWS.BedrockAPIKeys,
			Logger: o.Logger.With("service", "bedrock"), Stats: stats, Now: o.Now})
		s.Bedrock.Register(mux)
		tid := o.Tenant.Tenant.ID
		s.AgentCoreIdentity = agentcoreid.New(agentcoreid.Options{Region: o.Tenant.AWS.Region, Account: o.Tenant.AWS.AccountID,
			BaseURL: s.URL, TenantID: tid, Credentials: s.STS, VerifyJWT: s.Keys.Verify, Entra: mux,
			// The user tokens GetWorkloadAccessTokenForJWT takes: cloudsim
			// Entra's v2 and v1 issuers.
			Issuers: []string{"https://login.microsoftonline.com/" + tid + "/v2.0", "https://sts.windows.net/" + tid + "/"},
			Logger:  o.Logger.With("service", "agentcore-identity"), Count: stats.Add, Now: o.Now})
		s.AgentCoreIdentity.Register(mux)
		for _, p := range o.Tenant.AWS.CredentialProviders {
			// The tenant file's providers (checked when it was read: the
			// app exists, has a secret and lists the callback).
			if app := o.Tenant.App(p.ClientApp); app != nil {
				if _, err := s.AgentCoreIdentity.CreateProvider(p.Name, app.AppID, app.Secrets[0], tid, p.CallbackID); err != nil {
					o.Logger.Warn("tenant file: credential provider not created", "name", p.Name, "error", err)
				}
			}
		}
	}
	graph.New(graph.Options{Live: s.Live, Verify: s.Keys.Verify, Logger: o.Logger.With("service", "graph"), Count: stats.Add}).Register(mux)
	mux.Handle(mcpserver.Path, mcpserver.Handler(mcpserver.Options{Directory: o.Tenant, Verify: s.Keys.Verify,
		Logger: o.Logger.With("service", "mcp"), Count: stats.Add}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if crossSiteForm(r) {
			o.Logger.Warn("refused a cross-site form post", "path", r.URL.Path)
			http.Error(w, "cloudsim refuses a form post from another site: sign-in and consent pages, and the fault and admin switches, "+
				"take posts from cloudsim's own pages only (login CSRF)", http.StatusForbidden)
			return
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			if strings.HasPrefix(r.URL.Path, bedrock.Path+"/") {
				bedrock.NotFound(w, r)
				return
			}
			if s.AgentCoreIdentity != nil && strings.HasPrefix(r.URL.Path, agentcoreid.PathPrefix) {
				agentcoreid.NotFound(w, r)
				return
			}
			if awsRoot(w, r, stsHandler, iamHandler) {
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// Sidecar API entries of the built-in sidecar, as cloudsim.env names them.
const (
	SidecarAppAPI       = "weather-app"
	SidecarDelegatedAPI = "weather"
	SidecarMCPAPI       = "mcp"
)

// SidecarConfig is the built-in sidecar's configuration: the blueprint with
// its managed identity credential (no secret), the Weather API's two
// entries, and overrides allowed on the unauthenticated routes, which the
// autonomous and agent user flows need.
func (s *Sim) SidecarConfig(weatherAPIURL string) (sidecar.Config, error) {
	d := s.Tenant
	blueprint, weather := d.AppFor(tenant.PartBlueprint), d.AppFor(tenant.PartWeatherAPI)
	if blueprint == nil || weather == nil {
		return sidecar.Config{}, errors.New(`the sidecar needs applications with "part": "blueprint" and "part": "weather-api" in the tenant file`)
	}
	if weatherAPIURL == "" {
		weatherAPIURL = "http://127.0.0.1:8080"
	}
	res := "api://" + weather.AppID
	cfg := sidecar.Config{
		Instance: s.URL, TenantID: d.Tenant.ID, ClientID: blueprint.AppID,
		Credential: sidecar.Credential{SourceType: "SignedAssertionFromManagedIdentity", ManagedIdentityClientID: d.ManagedIdentity.ClientID,
			ManagedIdentityToken: s.managedIdentityToken},
		APIs: map[string]sidecar.DownstreamAPI{
			SidecarAppAPI:       {Name: SidecarAppAPI, BaseURL: weatherAPIURL, Scopes: []string{res + "/.default"}, RequestAppToken: true},
			SidecarDelegatedAPI: {Name: SidecarDelegatedAPI, BaseURL: weatherAPIURL, Scopes: []string{res + "/Weather.Read"}},
		},
		Overrides: sidecar.Overrides{GetAuthorizationHeader: true, GetAuthorizationHeaderUnauthenticated: true,
			CallDownstreamAPI: true, CallDownstreamAPIUnauthenticated: true},
	}
	if d.AppByIdentifier(mcpserver.AppID) != nil {
		cfg.APIs[SidecarMCPAPI] = sidecar.DownstreamAPI{Name: SidecarMCPAPI, BaseURL: s.URL + mcpserver.Path,
			Scopes: []string{mcpserver.AppID + "/" + mcpserver.RequiredScope}}
	}
	return cfg, nil
}

// managedIdentityToken asks this cloudsim's managed identity endpoint for
// its identity's token, as MSAL's App Service source does (GET with
// X-IDENTITY-HEADER, api-version 2019-08-01), without the process
// environment MSAL would read it from.
func (s *Sim) managedIdentityToken(ctx context.Context, resource string) (string, error) {
	q := url.Values{"api-version": {entra.ManagedIdentityAPIVersion}, "resource": {resource}, "client_id": {s.Tenant.ManagedIdentity.ClientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.IdentityEndpoint+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-IDENTITY-HEADER", s.IdentityHeader)
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("managed identity endpoint: %w", err)
	}
	defer resp.Body.Close()
	var answer struct {
		AccessToken string `json:"access_token"`
		Message     string `json:"message"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&answer); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("managed identity endpoint answered %s: %s", resp.Status, answer.Message)
	}
	return answer.AccessToken, nil
}

func (s *Sim) startSidecar(o Options) (*http.Server, net.Listener, error) {
	cfg, err := s.SidecarConfig(o.WeatherAPIURL)
	if err != nil {
		return nil, nil, err
	}
	s.sidecarOut = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CA.Pool(), MinVersion: tls.VersionTLS12}}
	client := &http.Client{Timeout: 30 * time.Second, Transport: s.sidecarOut}
	log := o.Logger.With("service", "sidecar")
	side, err := sidecar.New(cfg, client, log)
	if err != nil {
		return nil, nil, err
	}
	ln, err := httpserver.Listen("auth sidecar", "-sidecar-addr", o.SidecarAddr)
	if err != nil {
		return nil, nil, err
	}
	return &http.Server{Handler: side, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}, ln, nil
}

// Close stops both listeners, letting requests in flight finish.
func (s *Sim) Close(ctx context.Context) error {
	if s.sidecarOut != nil {
		s.sidecarOut.CloseIdleConnections()
	}
	var errs []error
	for _, srv := range s.servers {
		errs = append(errs, srv.Shutdown(ctx))
	}
	s.serving.Wait()
	return errors.Join(errs...)
}

// Done reports a listener that stopped by itself; Close stopping them
// reports nothing.
func (s *Sim) Done() <-chan error { return s.done }

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// identityHeader returns the IDENTITY_HEADER secret, created once per state
// folder; like the platforms' header, it stops other local processes that
// can reach the port but not the environment from getting tokens.
func identityHeader(dir string) (string, error) {
	path := filepath.Join(dir, "identity-header")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read identity header: %w", err)
	}
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	h := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(h+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write identity header: %w", err)
	}
	return h, nil
}

// Env is every setting another binary on this host needs to use cloudsim.
// It never holds AWS access keys: they would silently bypass the web
// identity chain.
func (s *Sim) Env() map[string]string {
	d := s.Tenant
	env := map[string]string{
		"TENANT_ID":                  d.Tenant.ID,
		"AZURE_AUTHORITY_HOST":       s.URL,
		"SSL_CERT_FILE":              s.CA.BundlePath(),
		"AWS_CA_BUNDLE":              s.CA.BundlePath(),
		"IDENTITY_ENDPOINT":          s.IdentityEndpoint,
		"IDENTITY_HEADER":            s.IdentityHeader,
		"MANAGED_IDENTITY_CLIENT_ID": d.ManagedIdentity.ClientID,
		"GRAPH_URL":                  s.URL + graph.Path,
	}
	for _, a := range d.Applications {
		if a.ExportAs == "" {
			continue
		}
		env[a.ExportAs] = a.AppID
	}
	if bp := d.AppFor(tenant.PartBlueprint); bp != nil && len(bp.Secrets) > 0 {
		env["BLUEPRINT_CLIENT_SECRET"] = bp.Secrets[0]
	}
	if sts := d.AppFor(tenant.PartSTS); sts != nil && len(sts.IdentifierURIs) > 0 {
		env["STS_APP_URI"] = sts.IdentifierURIs[0]
	}
	for _, a := range d.AgentIdentities {
		if a.ExportAs != "" {
			env[a.ExportAs] = a.AppID
		}
	}
	for _, u := range d.AgentUsers {
		if u.ExportAs != "" {
			env[u.ExportAs] = u.UPN
		}
	}
	if d.AppByIdentifier(mcpserver.AppID) != nil {
		env["MCP_SERVER_URL"] = s.URL + mcpserver.Path
		env["MCP_SCOPES"] = mcpserver.RequiredScope
	}
	if d.AWS != nil {
		env["AWS_ENDPOINT_URL_STS"] = s.URL + awssts.Path
		env["AWS_ENDPOINT_URL_IAM"] = s.URL + awsiam.Path
		env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = s.URL + bedrock.Path
		// AgentCore's two planes at cloudsim's root: their request URIs
		// are absolute (/identities/…) and do not collide.
		env["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"] = s.URL
		env["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL"] = s.URL
		env["AWS_REGION"] = d.AWS.Region
		// The AWS CLI v1 and boto3 read AWS_DEFAULT_REGION, not AWS_REGION.
		env["AWS_DEFAULT_REGION"] = d.AWS.Region
		for _, r := range d.AWS.Roles {
			if r.ExportAs != "" {
				env[r.ExportAs] = d.AWS.ARN(r)
			}
		}
	}
	if s.SidecarURL != "" {
		env["SIDECAR_URL"] = s.SidecarURL
		env["SIDECAR_APP_API"] = SidecarAppAPI
		env["SIDECAR_DELEGATED_API"] = SidecarDelegatedAPI
		if d.AppByIdentifier(mcpserver.AppID) != nil {
			env["SIDECAR_MCP_API"] = SidecarMCPAPI
		}
	}
	if len(d.Users) > 0 {
		env["CLOUDSIM_DEMO_USERNAME"] = d.Users[0].UPN
		env["CLOUDSIM_DEMO_PASSWORD"] = d.Users[0].Password
	}
	return env
}

var plainValue = regexp.MustCompile(`^[A-Za-z0-9_./:@+=-]*$`)

// writeEnv writes cloudsim.env as KEY=VALUE lines that bash can source.
// It holds a local secret and the identity header, so it is 0600.
func (s *Sim) writeEnv() error {
	env := s.Env()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by cloudsim for %s. Load it with: set -a; . %s; set +a\n", s.URL, filepath.Join(s.Dir, EnvFile))
	for _, k := range keys {
		v := env[k]
		if !plainValue.MatchString(v) {
			v = "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
		}
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	return atomicfile.Write(filepath.Join(s.Dir, EnvFile), []byte(b.String()), 0o600)
}
