package leakcheck

import "testing"

const planted = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"

func TestFindCatchesPlantedLeaks(t *testing.T) {
	cases := []struct {
		name    string
		text    string
		secrets []string
		want    int
	}{
		{"whole token in a log line", `level=INFO msg="token issued" token=` + planted, nil, 1},
		{"token in a JSON error body", `{"error":"x","detail":"` + planted + `"}`, nil, 1},
		{"signature alone", "sig=c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU", []string{planted}, 1},
		{"a known secret", "password=alice-local-demo-password", []string{"alice-local-demo-password"}, 1},
		{"clean text", `level=INFO msg="token issued" client_id=5b4418ec uti=abc`, []string{planted, "alice-local-demo-password"}, 0},
		{"short secrets ignored", "id=abc", []string{"abc"}, 0},
	}
	for _, c := range cases {
		if got := Find(c.text, c.secrets...); len(got) != c.want {
			t.Errorf("%s: found %v, want %d finding(s)", c.name, got, c.want)
		}
	}
}
