package localapi

import "encoding/json"

// MarshalJSON keeps bytes that are not UTF-8 (wire.Command.EncodeBytes).
func (r Run) MarshalJSON() ([]byte, error) {
	type plain Run // its fields, not this method
	out := struct {
		plain
		Raw bool `json:"raw,omitempty"`
	}{plain: plain(r)}
	out.Raw = out.Command.EncodeBytes()
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (r *Run) UnmarshalJSON(b []byte) error {
	type plain Run
	var in struct {
		plain
		Raw bool `json:"raw,omitempty"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*r = Run(in.plain)
	return r.Command.DecodeBytes(in.Raw)
}
