package faulttest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// proxy sits in front of one node's raft port. Peers dial it; it reads the
// transport's hello frame to learn who is connecting, refuses blocked
// senders, and otherwise copies bytes to the node. Cutting a sender closes
// its connections at once (cluster/FORMAT.md, "Internal transport").
type proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	blocked map[string]bool // sender ID, or "*" for everyone
	conns   map[net.Conn]string
	wg      sync.WaitGroup
}

func startProxy(t *testing.T, listen, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, blocked: map[string]bool{}, conns: map[net.Conn]string{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(os.Stderr, "proxy %s: accept: %v\n", p.target, err)
			}
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

// serve forwards one connection once its hello names an allowed sender.
func (p *proxy) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	hello, from, err := readHello(r)
	if err != nil {
		p.debugf("hello: %v", err)
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if !p.track(c, from) {
		p.debugf("refuse %s", from)
		return
	}
	defer p.untrack(c)
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		p.debugf("dial for %s: %v", from, err)
		return
	}
	defer up.Close()
	if !p.track(up, from) {
		return
	}
	defer p.untrack(up)
	if _, err := up.Write(hello); err != nil {
		return
	}
	p.debugf("%s: %s -> %s -> %s", from, c.RemoteAddr(), up.LocalAddr(), up.RemoteAddr())
	done := make(chan error, 2)
	go func() { _, err := io.Copy(up, r); done <- err }()
	go func() { _, err := io.Copy(io.Discard, up); done <- err }()
	err = <-done
	p.debugf("%s: %s closed: %v", from, c.RemoteAddr(), err)
}

// readHello reads the first frame and returns its bytes and the sender ID:
// length u32, crc u32, type u8 (1), version u8, uvarint len, ID.
func readHello(r *bufio.Reader) ([]byte, string, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, "", err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n < 4 || n > 4096 {
		return nil, "", errors.New("bad hello length")
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, "", err
	}
	if len(body) < 3 || body[0] != 1 {
		return nil, "", errors.New("first frame is not a hello")
	}
	l, k := binary.Uvarint(body[2:])
	if k <= 0 || 2+k+int(l) > len(body) {
		return nil, "", errors.New("bad hello")
	}
	return append(hdr[:], body...), string(body[2+k : 2+k+int(l)]), nil
}

func (p *proxy) track(c net.Conn, from string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blocked["*"] || p.blocked[from] {
		return false
	}
	p.conns[c] = from
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// block refuses sender (or everyone, "*") and cuts its open connections.
func (p *proxy) block(sender string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked[sender] = true
	for c, from := range p.conns {
		if sender == "*" || from == sender {
			_ = c.Close()
		}
	}
}

// heal lets every sender through again.
func (p *proxy) heal() {
	p.mu.Lock()
	p.blocked = map[string]bool{}
	p.mu.Unlock()
}

func (p *proxy) close() {
	_ = p.ln.Close()
	p.block("*")
	p.wg.Wait()
}

// debugf prints what the proxy does when SILT_FAULT_DUMP is set.
func (p *proxy) debugf(format string, args ...any) {
	if os.Getenv("SILT_FAULT_DUMP") != "" {
		fmt.Fprintf(os.Stderr, "%s proxy %s: %s\n", time.Now().Format("15:04:05.000"), p.target, fmt.Sprintf(format, args...))
	}
}
