package pmi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// handshakeTimeout bounds how long a connection may stay without showing
// its PMI_ID: MPICH sends it first thing.
const handshakeTimeout = 30 * time.Second

// conn is one rank's connection.
type conn struct {
	s    *Server
	c    net.Conn
	r    *bufio.Reader
	rank int // -1 until the handshake
}

func (s *Server) serveConn(c net.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.conns[c] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	cs := &conn{s: s, c: c, r: bufio.NewReaderSize(c, maxLine+16), rank: -1}
	c.SetReadDeadline(time.Now().Add(handshakeTimeout))
	if err := cs.loop(); err != nil {
		if cs.rank < 0 {
			s.stranger()
			s.Logf("pmi: %s: %v", c.RemoteAddr(), err)
		} else {
			s.Logf("pmi: rank %d: %v", cs.rank, err)
		}
	}
}

// errClose ends a connection quietly (finalize, abort answered).
var errClose = errors.New("closed")

// loop reads commands and answers them. Each command is PMI-1 or PMI-2
// by its first bytes, as hydra tells them: MPICH's PMI-2 client starts
// with a PMI-1 init.
func (cs *conn) loop() error {
	for {
		head, err := cs.r.Peek(4)
		if err != nil {
			if errors.Is(err, io.EOF) && len(head) == 0 {
				if cs.rank < 0 {
					return errors.New("closed before the handshake")
				}
				return nil
			}
			return err
		}
		var reply string
		if string(head) == "cmd=" || string(head) == "mcmd" {
			reply, err = cs.one1()
		} else {
			var m *msg
			if m, err = read2(cs.r); err == nil {
				reply, err = cs.handle2(m)
			}
		}
		if reply != "" {
			if _, werr := io.WriteString(cs.c, reply); werr != nil {
				return werr
			}
		}
		if errors.Is(err, errClose) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// one1 reads and answers one PMI-1 command.
func (cs *conn) one1() (string, error) {
	line, err := cs.readLine()
	if err != nil {
		return "", err
	}
	if len(line) >= 5 && line[:5] == "mcmd=" {
		// Spawn: lines up to "endcmd". Not offered.
		for line != "endcmd" {
			if line, err = cs.readLine(); err != nil {
				return "", err
			}
		}
		if cs.rank < 0 {
			return "", errors.New("spawn before the handshake")
		}
		return format1("spawn_result", "rc", "-1", "errmsg", "bproc_offers_no_spawn"), nil
	}
	m, err := parse1(line)
	if err != nil {
		return "", err
	}
	return cs.handle1(m)
}

func (cs *conn) readLine() (string, error) {
	b, err := cs.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("PMI-1 line longer than %d bytes", maxLine)
	}
	if err != nil {
		return "", err
	}
	return string(b[:len(b)-1]), nil
}

// joined records the rank a handshake showed.
func (cs *conn) joined(id string) error {
	rank, err := cs.s.join(id)
	if err != nil {
		return err
	}
	cs.rank = rank
	cs.c.SetReadDeadline(time.Time{})
	return nil
}

// handle1 answers a PMI-1 command (hydra's pmip_pmi_v1.c answers, word for word).
func (cs *conn) handle1(m *msg) (string, error) {
	s := cs.s
	switch m.cmd {
	case "init":
		v, _ := m.get("pmi_version")
		sv, _ := m.get("pmi_subversion")
		switch {
		case v == "1" && (sv == "0" || sv == "1"):
			return format1("response_to_init", "pmi_version", "1", "pmi_subversion", "1", "rc", "0"), nil
		case v == "2" && sv == "0":
			return format1("response_to_init", "pmi_version", "2", "pmi_subversion", "0", "rc", "0"), nil
		}
		return format1("response_to_init", "pmi_version", "1", "pmi_subversion", "1", "rc", "-1"),
			fmt.Errorf("PMI version %s.%s: this server speaks 1.1 and 2.0", clip(v), clip(sv))
	case "initack":
		id, _ := m.get("pmiid")
		if err := cs.joined(id); err != nil {
			return "", err
		}
		return format1("initack") + format1("set", "size", strconv.Itoa(s.Size())) +
			format1("set", "rank", strconv.Itoa(cs.rank)) + format1("set", "debug", "0"), nil
	}
	if cs.rank < 0 {
		return "", fmt.Errorf("%q before the handshake (initack)", clip(m.cmd))
	}
	switch m.cmd {
	case "get_maxes":
		return format1("maxes", "kvsname_max", strconv.Itoa(kvsNameMax), "keylen_max", strconv.Itoa(keyMax),
			"vallen_max", strconv.Itoa(valMax)), nil
	case "get_appnum":
		return format1("appnum", "appnum", "0"), nil
	case "get_my_kvsname":
		return format1("my_kvsname", "kvsname", s.kvsName), nil
	case "get_universe_size":
		return format1("universe_size", "size", strconv.Itoa(s.Size())), nil
	case "put":
		name, _ := m.get("kvsname")
		key, _ := m.get("key")
		val, _ := m.get("value")
		if msg := s.checkPut(name, key, val); msg != "" {
			return format1("put_result", "rc", "-1", "msg", msg), nil
		}
		s.put(key, val)
		return format1("put_result", "rc", "0", "msg", "success"), nil
	case "get":
		name, _ := m.get("kvsname")
		key, _ := m.get("key")
		if name != s.kvsName {
			return format1("get_result", "rc", "-1", "msg", "unknown_kvsname", "value", "unknown"), nil
		}
		if v, ok := s.get(key); ok {
			return format1("get_result", "rc", "0", "msg", "success", "value", v), nil
		}
		return format1("get_result", "rc", "-1", "msg", "key_"+key+"_not_found", "value", "unknown"), nil
	case "barrier_in":
		ok, err := s.barrier(cs.rank)
		if !ok {
			return "", err
		}
		return format1("barrier_out"), nil
	case "finalize":
		return format1("finalize_ack"), errClose
	case "abort":
		code, err := strconv.Atoi(valueOr(m, "exitcode", "-1"))
		if err != nil {
			code = -1
		}
		s.OnAbort(cs.rank, code, "")
		return "", nil // the client waits to be killed
	case "publish_name":
		return format1("publish_result", "info", "ok", "rc", "1", "msg", "bproc_offers_no_name_service"), nil
	case "unpublish_name":
		return format1("unpublish_result", "info", "ok", "rc", "1", "msg", "bproc_offers_no_name_service"), nil
	case "lookup_name":
		return format1("lookup_result", "rc", "1", "msg", "bproc_offers_no_name_service"), nil
	}
	return format1(m.cmd+"_result", "rc", "-1", "msg", "unknown_command"), nil
}

// checkPut says what is wrong with a put, or "".
func (s *Server) checkPut(name, key, val string) string {
	switch {
	case name != s.kvsName:
		return "unknown_kvsname"
	case key == "" || len(key) > keyMax:
		return "bad_key_length"
	case len(val) > valMax:
		return "value_too_long"
	}
	return ""
}

func valueOr(m *msg, key, def string) string {
	if v, ok := m.get(key); ok {
		return v
	}
	return def
}

// handle2 answers a PMI-2 command (hydra's pmip_pmi_v2.c and
// pmiserv_pmi_v2.c answers).
func (cs *conn) handle2(m *msg) (string, error) {
	s := cs.s
	// A threaded client tags each command; the answer carries the tag.
	answer := func(cmd string, pairs ...string) string {
		if t, ok := m.get("thrid"); ok {
			pairs = append([]string{"thrid", t}, pairs...)
		}
		return format2(cmd, pairs...)
	}
	if m.cmd == "fullinit" {
		// The PMI_ID: MPICH's client sends it as pmirank, Slurm's
		// libpmi2 (an older MPICH's client) as srcid.
		id, ok := m.get("pmirank")
		if !ok {
			id, _ = m.get("srcid")
		}
		if err := cs.joined(id); err != nil {
			return "", err
		}
		return answer("fullinit-response", "pmi-version", "2", "pmi-subversion", "0",
			"rank", strconv.Itoa(cs.rank), "size", strconv.Itoa(s.Size()), "appnum", "0",
			"debugged", "FALSE", "pmiverbose", "FALSE", "rc", "0"), nil
	}
	if cs.rank < 0 {
		return "", fmt.Errorf("%q before the handshake (fullinit)", clip(m.cmd))
	}
	found := func(cmd, v string, ok bool) string {
		if ok {
			return answer(cmd, "found", "TRUE", "value", v, "rc", "0")
		}
		return answer(cmd, "found", "FALSE", "rc", "0")
	}
	switch m.cmd {
	case "job-getid":
		return answer("job-getid-response", "jobid", s.kvsName, "rc", "0"), nil
	case "kvs-put":
		key, _ := m.get("key")
		val, _ := m.get("value")
		if msg := s.checkPut(s.kvsName, key, val); msg != "" {
			return answer("kvs-put-response", "rc", "1", "errmsg", msg), nil
		}
		s.put(key, val)
		return answer("kvs-put-response", "rc", "0"), nil
	case "kvs-fence":
		ok, err := s.barrier(cs.rank)
		if !ok {
			return "", err
		}
		return answer("kvs-fence-response", "rc", "0"), nil
	case "kvs-get":
		key, _ := m.get("key")
		v, ok := s.get(key)
		return found("kvs-get-response", v, ok), nil
	case "info-putnodeattr":
		key, _ := m.get("key")
		val, _ := m.get("value")
		s.putNodeAttr(cs.rank, key, val)
		return answer("info-putnodeattr-response", "rc", "0"), nil
	case "info-getnodeattr":
		key, _ := m.get("key")
		v, ok := s.getNodeAttr(cs.rank, key, valueOr(m, "wait", "FALSE") == "TRUE")
		return found("info-getnodeattr-response", v, ok), nil
	case "info-getjobattr":
		key, _ := m.get("key")
		v, ok := s.jobAttr(key)
		return found("info-getjobattr-response", v, ok), nil
	case "finalize":
		return answer("finalize-response", "rc", "0"), errClose
	case "abort":
		s.OnAbort(cs.rank, -1, valueOr(m, "msg", ""))
		return "", nil
	}
	return answer(m.cmd+"-response", "rc", "1", "errmsg", "unknown or unsupported command"), nil
}
