package wire

import "encoding/json"

// procStartJSON is ProcStart as it travels: its byte strings in base64
// when Raw (see ByteStrings).
type procStartJSON struct {
	plainProcStart
	Raw bool `json:"raw,omitempty"`
}

type plainProcStart ProcStart

func (p *ProcStart) byteStrings() ByteStrings {
	return ByteStrings{
		Strings: []*string{&p.Path, &p.Dir, &p.StdinFile, &p.StdoutFile, &p.StderrFile},
		Lists:   []*[]string{&p.Argv, &p.Env},
	}
}

// MarshalJSON keeps bytes that are not UTF-8 (see ByteStrings).
func (p ProcStart) MarshalJSON() ([]byte, error) {
	out := procStartJSON{plainProcStart: plainProcStart(p)}
	if b := p.byteStrings(); !b.UTF8() {
		c := ProcStart(out.plainProcStart)
		c.byteStrings().ToBase64()
		out.plainProcStart, out.Raw = plainProcStart(c), true
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (p *ProcStart) UnmarshalJSON(b []byte) error {
	var in procStartJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*p = ProcStart(in.plainProcStart)
	if in.Raw {
		return p.byteStrings().FromBase64()
	}
	return nil
}
