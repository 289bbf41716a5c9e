package wire

import "encoding/json"

// MarshalJSON keeps bytes that are not UTF-8 (Command.EncodeBytes).
func (p ProcStart) MarshalJSON() ([]byte, error) {
	type plain ProcStart // its fields, not this method
	out := struct {
		plain
		Raw bool `json:"raw,omitempty"`
	}{plain: plain(p)}
	out.Raw = out.Command.EncodeBytes()
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (p *ProcStart) UnmarshalJSON(b []byte) error {
	type plain ProcStart
	var in struct {
		plain
		Raw bool `json:"raw,omitempty"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*p = ProcStart(in.plain)
	return p.Command.DecodeBytes(in.Raw)
}
