// Package dashboard serves the coordinator's web page: the nodes, the jobs
// with their progress, and the picture of an image job filling in tile by
// tile. The files are embedded in the binary, so the page needs no network
// beyond the coordinator: it works on a LAN with no internet.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var files embed.FS

// Handler serves the page and its assets.
func Handler() http.Handler {
	static, _ := fs.Sub(files, "static")
	return http.FileServer(http.FS(static))
}
