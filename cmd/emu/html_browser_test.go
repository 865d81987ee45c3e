package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestHTMLReportInChromium opens `emu ab -html` output of clear_refs 5.10
// vs 5.10-stable (-patch clear-refs-flush) in headless Chromium (Debian's
// chromium, installed by .ci/run): the page loads from a file with every
// network request sent to a dead proxy, the DOM Chromium built has the
// title and the verdict line, a screenshot is written, and no element
// loads anything from outside the file.
func TestHTMLReportInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (apt-get install chromium): skipping the browser test")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "ab.html")
	code, _, stderr := emu(t, append([]string{"ab"}, args("-patch", "clear-refs-flush", "-r", "2", "-html", page, "-o", filepath.Join(dir, "ab.txt"))...)...)
	if code != 0 {
		t.Fatalf("emu ab -html: exit %d: %s", code, stderr)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing the page loads may come from the network: no src/href or
	// CSS url() to http(s) (the SVG namespace declarations are names,
	// not requests).
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:)?//|url\(\s*["']?(https?:)?//`).Find(html); m != nil {
		t.Errorf("the report references the network: %q", m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	common := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--user-data-dir=" + filepath.Join(dir, "profile")}
	var dom, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, chromium, append(common, "--dump-dom", "file://"+page)...)
	cmd.Stdout, cmd.Stderr = &dom, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, errb.String())
	}
	title := regexp.MustCompile(`<title>([^<]*)</title>`).FindStringSubmatch(dom.String())
	if title == nil || !strings.Contains(title[1], "clear_refs") {
		t.Errorf("page title %v, want one naming the workload", title)
	}
	if !strings.Contains(dom.String(), "the hole closes") {
		t.Errorf("the DOM has no verdict line (\"the hole closes\"); %d bytes", dom.Len())
	}
	shot := filepath.Join(dir, "ab.png")
	cmd = exec.CommandContext(ctx, chromium, append(common, "--window-size=1200,1600", "--screenshot="+shot, "file://"+page)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(shot); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) || len(b) < 10_000 {
		t.Errorf("screenshot: %d bytes, err %v; want a PNG", len(b), err)
	}
}
