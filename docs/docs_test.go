// Package docs holds the checks that keep README.md and the pages in docs/
// true: every relative link resolves, every page is reachable from the
// README, and docs/settings.md lists exactly the settings the code reads.
package docs

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pages returns README.md and every page in docs/, relative to this folder.
func pages(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("*.md")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no pages in docs/: %v", err)
	}
	return append([]string{"../README.md"}, docs...)
}

// prose returns a Markdown file's lines outside fenced code blocks, with
// inline code spans blanked, so a link or heading inside code is not one.
func prose(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	fenced := false
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			out = append(out, "")
			continue
		}
		if fenced {
			out = append(out, "")
			continue
		}
		out = append(out, line)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	heading  = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	codeSpan = regexp.MustCompile("`[^`]*`")
	link     = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]*)(?:\s+"[^"]*")?\)`)
	notSlug  = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
)

// slug is GitHub's anchor for a heading: lower case, punctuation dropped
// (backticks, colons, dots, parentheses), spaces to hyphens.
func slug(text string) string {
	return strings.ReplaceAll(notSlug.ReplaceAllString(strings.ToLower(strings.TrimSpace(text)), ""), " ", "-")
}

// anchors returns the anchors GitHub gives a page's headings, a repeated
// heading getting -1, -2, … as GitHub numbers them.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, line := range prose(t, path) {
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		base := slug(m[2])
		a := base
		for n := 1; out[a]; n++ {
			a = base + "-" + itoa(n)
		}
		out[a] = true
	}
	return out
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

// links returns each relative link target on a page with its line number.
func links(t *testing.T, path string) map[string][]int {
	t.Helper()
	out := map[string][]int{}
	for i, line := range prose(t, path) {
		for _, m := range link.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, "``"), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			out[target] = append(out[target], i+1)
		}
	}
	return out
}

// Every relative link in README.md and docs/ names a file that exists and,
// with a #fragment, a heading on that page.
func TestDocsLinksResolve(t *testing.T) {
	cache := map[string]map[string]bool{}
	checked := 0
	for _, page := range pages(t) {
		for target, lines := range links(t, page) {
			checked++
			if target == "" {
				t.Errorf("%s:%v: a link with no target", page, lines)
				continue
			}
			file, fragment, _ := strings.Cut(target, "#")
			resolved := page
			if file != "" {
				resolved = filepath.Join(filepath.Dir(page), file)
				if _, err := os.Stat(resolved); err != nil {
					t.Errorf("%s:%v: %q: no such file", page, lines, target)
					continue
				}
			}
			if fragment == "" {
				continue
			}
			if !strings.HasSuffix(resolved, ".md") {
				t.Errorf("%s:%v: %q: a fragment on a file that is not a Markdown page", page, lines, target)
				continue
			}
			if cache[resolved] == nil {
				cache[resolved] = anchors(t, resolved)
			}
			if !cache[resolved][fragment] {
				t.Errorf("%s:%v: %q: %s has no heading with the anchor #%s", page, lines, target, resolved, fragment)
			}
		}
	}
	if checked < 50 {
		t.Errorf("only %d relative links found: is the link pattern still right?", checked)
	}
}

// The check above is proven by links it must refuse.
func TestDocsLinkCheckCatchesBrokenLinks(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "page.md")
	body := "# A page\n\n## Its `second` part: here\n\n## Its `second` part: here\n\n" +
		"[ok](#its-second-part-here) [ok again](#its-second-part-here-1) [self](page.md#a-page)\n" +
		"[bad anchor](#its-third-part) [bad file](missing.md) [empty]() `[in code](missing.md)`\n" +
		"```\n[in a fence](missing.md)\n```\n"
	if err := os.WriteFile(page, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	got := links(t, page)
	if len(got) != 6 {
		t.Errorf("links found %v; want the six outside code", got)
	}
	a := anchors(t, page)
	for _, want := range []string{"a-page", "its-second-part-here", "its-second-part-here-1"} {
		if !a[want] {
			t.Errorf("anchors %v lack %s", a, want)
		}
	}
	if a["its-third-part"] {
		t.Error("an anchor no heading has was found")
	}
}

// A reader who has only the README finds every page in one click.
func TestEveryPageIsLinkedFromTheREADME(t *testing.T) {
	linked := map[string]bool{}
	for target := range links(t, "../README.md") {
		file, _, _ := strings.Cut(target, "#")
		linked[filepath.Clean(filepath.Join("..", file))] = true
	}
	for _, page := range pages(t)[1:] {
		if !linked[filepath.Join("../docs", page)] {
			t.Errorf("README.md does not link docs/%s", page)
		}
	}
}

// The README stays a five-minute read; everything else has a page here.
func TestREADMEIsShort(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), "\n"); n > 320 {
		t.Errorf("README.md has %d lines: move detail into a page under docs/ and link it", n)
	}
}
