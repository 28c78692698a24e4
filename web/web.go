// Package web is the chat UI, embedded into llm-agent and served at /.
// Plain HTML, CSS and JavaScript: no build step; @azure/msal-browser is
// vendored under static/vendor.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// Files is the UI's file tree, rooted at static/.
func Files() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	return sub
}
