package agentid

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/crosscloud-agentid/agentid/internal/entraerr"
)

// Reading Entra's code from a refused silent acquisition leaves the answer
// readable: the provider reads it again for the turn's message.
func TestEntraCodeLeavesTheAnswerReadable(t *testing.T) {
	resp := &http.Response{StatusCode: 400, Body: io.NopCloser(strings.NewReader(`{"error":"invalid_grant","error_codes":[65001],"error_description":"AADSTS65001: no consent"}`))}
	err := fmt.Errorf("silent: %w", msalerrors.CallErr{Resp: resp, Err: fmt.Errorf("http 400")})
	if code := entraCode(err); code != 65001 || !personMustAct(code) {
		t.Fatalf("code %d", code)
	}
	if info, ok := entraerr.From(err); !ok || info.Code() != 65001 || !strings.HasPrefix(info.Description, "AADSTS65001") {
		t.Errorf("read again: %+v", info)
	}
}
