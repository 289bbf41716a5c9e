package localapi

import (
	"encoding/json"

	"github.com/bproc/bproc/internal/shared/wire"
)

// runJSON is Run as it travels: its byte strings in base64 when Raw (see
// wire.ByteStrings: an argument in Latin-1 must reach the node as it is).
type runJSON struct {
	plainRun
	Raw bool `json:"raw,omitempty"`
}

type plainRun Run

func (r *Run) byteStrings() wire.ByteStrings {
	return wire.ByteStrings{
		Strings: []*string{&r.Path, &r.Dir, &r.StdinFile, &r.StdoutFile, &r.StderrFile},
		Lists:   []*[]string{&r.Argv, &r.Env},
	}
}

// MarshalJSON keeps bytes that are not UTF-8.
func (r Run) MarshalJSON() ([]byte, error) {
	out := runJSON{plainRun: plainRun(r)}
	if !r.byteStrings().UTF8() {
		c := Run(out.plainRun)
		c.byteStrings().ToBase64()
		out.plainRun, out.Raw = plainRun(c), true
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (r *Run) UnmarshalJSON(b []byte) error {
	var in runJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*r = Run(in.plainRun)
	if in.Raw {
		return r.byteStrings().FromBase64()
	}
	return nil
}
