package bprsh

import (
	"fmt"
	"strconv"
	"strings"
)

// letter is one of ssh(1)'s option letters: what bprsh's parser accepts,
// and what --help and the manual page list.
type letter struct {
	c    byte
	arg  string // the argument's placeholder; "" for a flag
	help string
}

// letters are every option of OpenSSH's ssh (its getopt string
// "1246ab:c:e:fgi:kl:m:no:p:qstvxAB:CD:E:F:GI:J:KL:MNO:P:Q:R:S:TVw:W:XYy"),
// so that any command line a program builds for ssh parses. Most mean
// nothing without a network connection of bprsh's own and are accepted
// and ignored.
var letters = []letter{
	{'1', "", "Ignored (protocol version)."},
	{'2', "", "Ignored (protocol version)."},
	{'4', "", "Ignored (address family)."},
	{'6', "", "Ignored (address family)."},
	{'A', "", "Ignored (agent forwarding)."},
	{'a', "", "Ignored (agent forwarding)."},
	{'B', "IFACE", "Ignored (bind interface)."},
	{'b', "ADDR", "Ignored (bind address)."},
	{'C', "", "Ignored (compression)."},
	{'c', "CIPHERS", "Ignored (ciphers)."},
	{'D', "PORT", "Dynamic forwarding: not available, a warning."},
	{'E', "FILE", "Ignored (log file)."},
	{'e', "CHAR", "Ignored (escape character)."},
	{'F', "FILE", "Ignored (configuration file)."},
	{'f', "", "Ignored: bprsh stays in the foreground."},
	{'G', "", "Print the configuration (user, host, port) and exit."},
	{'g', "", "Ignored (remote hosts may connect to forwarded ports)."},
	{'I', "LIB", "Ignored (PKCS#11)."},
	{'i', "FILE", "Ignored (identity file)."},
	{'J', "HOST", "Ignored (jump host)."},
	{'K', "", "Ignored (GSSAPI)."},
	{'k', "", "Ignored (GSSAPI)."},
	{'L', "SPEC", "Local forwarding: not available, a warning."},
	{'l', "USER", "The user to run as: must be the caller."},
	{'M', "", "Ignored (control master)."},
	{'m', "MACS", "Ignored (MACs)."},
	{'N', "", "Run no command: wait until interrupted, as ssh does."},
	{'n', "", "Read stdin from /dev/null."},
	{'O', "CMD", "Control commands: there is no control master; exit 255."},
	{'o', "KEY=VALUE", "An ssh_config option: User, RequestTTY, RemoteCommand, SessionType, LogLevel and Port are heeded, the rest ignored."},
	{'P', "TAG", "Ignored (configuration tag)."},
	{'p', "PORT", "Ignored (port), but it must be a port number."},
	{'Q', "WHAT", "Query: prints nothing, exit 0."},
	{'q', "", "Quiet: no warnings."},
	{'R', "SPEC", "Remote forwarding: not available, a warning."},
	{'S', "PATH", "Ignored (control socket)."},
	{'s', "", "The command is a subsystem: sftp is the node's SFTP server."},
	{'T', "", "No pseudo-terminal."},
	{'t', "", "A pseudo-terminal on the node; twice: even when stdin is not a terminal."},
	{'V', "", "Print the version and exit."},
	{'v', "", "Ignored (verbose)."},
	{'W', "HOST:PORT", "Stdio forwarding: not available, exit 255."},
	{'w', "TUN", "Tunnel forwarding: not available, a warning."},
	{'X', "", "Ignored (X11 forwarding)."},
	{'x', "", "Ignored (X11 forwarding)."},
	{'Y', "", "Ignored (X11 forwarding)."},
	{'y', "", "Ignored (syslog)."},
}

func findLetter(c byte) *letter {
	for i := range letters {
		if letters[i].c == c {
			return &letters[i]
		}
	}
	return nil
}

// TTY is what was asked of a pseudo-terminal, as ssh's RequestTTY.
type TTY int

const (
	TTYAuto  TTY = iota // one for a login shell, none for a command
	TTYNo               // -T, RequestTTY=no
	TTYYes              // -t, RequestTTY=yes: one if stdin is a terminal
	TTYForce            // -tt, RequestTTY=force: one whatever stdin is
)

// Options is an ssh command line, as far as bprsh heeds it.
type Options struct {
	User      string   // -l, user@, -o User=; "" when not given
	Host      string   // the destination's host part
	Command   []string // the words after the destination
	Subsystem bool     // -s, -o SessionType=subsystem
	NoCommand bool     // -N, -o SessionType=none
	TTY       TTY
	NullStdin bool // -n
	Quiet     bool // -q, -o LogLevel=QUIET
	Version   bool // -V
	Config    bool // -G
	Control   string
	Query     bool
	Stdio     string   // -W
	Forwards  []string // -L, -R, -D, -w as given: warned about

	remoteCommand string // -o RemoteCommand=
}

// ParseError is a command line ssh would refuse; bprsh exits 255 with it,
// as ssh does.
type ParseError struct{ Msg string }

func (e *ParseError) Error() string { return e.Msg }

func parseErr(format string, args ...any) error {
	return &ParseError{Msg: fmt.Sprintf(format, args...)}
}

// Parse reads an ssh command line the way OpenSSH's ssh does: options
// (getopt, without reordering: an option's argument may be attached,
// "-p22", "-oUser=x", flags may be grouped, "-nT"), the destination, then
// options again unless "--" ended them, then the command's words, taken as
// they are whatever they look like.
func Parse(args []string) (*Options, error) {
	o := &Options{}
	i := 0
	terminated := false
	// getopt parses options from args[i] on, stopping at the first word
	// that is not one, or after "--".
	getopt := func() error {
		for i < len(args) {
			a := args[i]
			if a == "--" {
				i++
				terminated = true
				return nil
			}
			if len(a) < 2 || a[0] != '-' {
				return nil
			}
			i++
			for j := 1; j < len(a); j++ {
				l := findLetter(a[j])
				if l == nil {
					return parseErr("unknown option -- %s", quoteByte(a[j]))
				}
				if l.arg == "" {
					o.flag(l.c)
					continue
				}
				val := a[j+1:]
				if val == "" {
					if i >= len(args) {
						return parseErr("option requires an argument -- %c", l.c)
					}
					val = args[i]
					i++
				}
				if err := o.option(l.c, val); err != nil {
					return err
				}
				break
			}
		}
		return nil
	}
	if err := getopt(); err != nil {
		return nil, err
	}
	if i >= len(args) {
		return nil, parseErr("no destination (bprsh [OPTIONS] [USER@]NODE [COMMAND...])")
	}
	if err := o.destination(args[i]); err != nil {
		return nil, err
	}
	i++
	if !terminated {
		if err := getopt(); err != nil {
			return nil, err
		}
	}
	if rest := args[i:]; len(rest) > 0 {
		o.Command = rest
	}
	return o, nil
}

func quoteByte(c byte) string {
	if c < ' ' || c > '~' {
		return fmt.Sprintf("\\x%02x", c)
	}
	return string(c)
}

func (o *Options) flag(c byte) {
	switch c {
	case 'N':
		o.NoCommand = true
	case 'n':
		o.NullStdin = true
	case 'q':
		o.Quiet = true
	case 's':
		o.Subsystem = true
	case 'T':
		o.TTY = TTYNo
	case 't':
		if o.TTY == TTYYes {
			o.TTY = TTYForce
		} else {
			o.TTY = TTYYes
		}
	case 'V':
		o.Version = true
	case 'G':
		o.Config = true
	}
}

func (o *Options) option(c byte, val string) error {
	switch c {
	case 'l':
		if val == "" {
			return parseErr("-l: empty user name")
		}
		o.User = val
	case 'o':
		return o.config(val)
	case 'p':
		return checkPort(val)
	case 'O':
		o.Control = val
	case 'Q':
		o.Query = true
	case 'W':
		o.Stdio = val
	case 'L', 'R', 'D', 'w':
		o.Forwards = append(o.Forwards, "-"+string(c)+" "+val)
	}
	return nil
}

func checkPort(val string) error {
	if n, err := strconv.Atoi(val); err != nil || n < 1 || n > 65535 {
		return parseErr("Bad port '%s'", val)
	}
	return nil
}

// config is one -o option, "Key=Value" or "Key Value" as in ssh_config.
func (o *Options) config(s string) error {
	s = strings.TrimSpace(s)
	k := strings.IndexAny(s, "= \t")
	if k <= 0 {
		return parseErr("-o %q: want KEY=VALUE", s)
	}
	key := s[:k]
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return parseErr("-o %q: bad option name %q", s, key)
		}
	}
	val := strings.TrimLeft(s[k:], " \t")
	val = strings.TrimPrefix(val, "=")
	val = strings.TrimSpace(val)
	if val == "" {
		return parseErr("-o %q: no value after %s", s, key)
	}
	switch strings.ToLower(key) {
	case "user":
		o.User = val
	case "port":
		return checkPort(val)
	case "loglevel":
		o.Quiet = strings.EqualFold(val, "quiet")
	case "requesttty":
		switch strings.ToLower(val) {
		case "no":
			o.TTY = TTYNo
		case "yes":
			o.TTY = TTYYes
		case "force":
			o.TTY = TTYForce
		case "auto":
			o.TTY = TTYAuto
		default:
			return parseErr("-o %s: want yes, no, force or auto", s)
		}
	case "sessiontype":
		switch strings.ToLower(val) {
		case "none":
			o.NoCommand = true
		case "subsystem":
			o.Subsystem = true
		case "default":
		default:
			return parseErr("-o %s: want none, subsystem or default", s)
		}
	case "remotecommand":
		if !strings.EqualFold(val, "none") {
			o.remoteCommand = val
		}
	}
	return nil
}

// destination parses [user@]host or ssh://[user@]host[:port].
func (o *Options) destination(d string) error {
	if rest, ok := strings.CutPrefix(d, "ssh://"); ok {
		d = strings.TrimSuffix(rest, "/")
		if k := strings.LastIndexByte(d, ':'); k >= 0 && !strings.Contains(d[k:], "]") {
			if err := checkPort(d[k+1:]); err != nil {
				return err
			}
			d = d[:k]
		}
	}
	if k := strings.LastIndexByte(d, '@'); k >= 0 {
		if k == 0 {
			return parseErr("%q: empty user name", d)
		}
		o.User = d[:k]
		d = d[k+1:]
	}
	d = strings.TrimSuffix(strings.TrimPrefix(d, "["), "]")
	if d == "" {
		return parseErr("empty host name")
	}
	o.Host = d
	return nil
}

// RemoteCommand is the command to run: the words after the destination
// joined with single spaces, as ssh sends them (sshd hands the string to
// the user's shell), or -o RemoteCommand's when there are none.
func (o *Options) RemoteCommand() string {
	if len(o.Command) > 0 {
		return strings.Join(o.Command, " ")
	}
	return o.remoteCommand
}
