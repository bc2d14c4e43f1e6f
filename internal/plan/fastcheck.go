package plan

// The fast path of validation: checks that allocate nothing and format nothing, for the
// common case of a valid member. Each answers true only when the matching validate*
// function finds no error; on false the caller runs that function for the messages
// (TestFastChecksAgree holds them together).

// memberOK reports whether validateMember(m, ...) would return nil.
func memberOK(m *Member) bool {
	if !nameOK(m.NodeID, 64) || len(m.Name) > 64 || !keyOK(m.PublicKey) ||
		m.ListenPort < 1 || m.ListenPort > 65535 || len(m.Endpoints) > MaxAddresses ||
		m.RelayWeight < 0 || m.RelayWeight > MaxRelayWeight {
		return false
	}
	for _, e := range m.Endpoints {
		if validateEndpoint(e, "") != nil {
			return false
		}
	}
	return lanOK(&m.LAN)
}

// lanOK reports whether validateLAN(l, ...) would return nil.
func lanOK(l *LAN) bool {
	if (l.PublicSource.IsValid() && (l.PublicSource.Zone() != "" || l.PublicSource.Is4In6())) ||
		len(l.Addresses) > MaxAddresses || len(l.Router) > 64 {
		return false
	}
	for _, p := range l.Addresses {
		if !p.IsValid() || (!p.Addr().IsPrivate() && !sharedCGN(p.Addr())) ||
			p.Addr().Zone() != "" || p.Bits() == 0 || p.Masked().Addr() == p.Addr() {
			return false
		}
	}
	return true
}

// nameOK reports whether s matches [A-Za-z0-9._-]{1,max}.
func nameOK(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// keyOK is ValidKey without decoding: 32 bytes are 43 base64 characters and one '=',
// the last character carrying 4 data bits (its 2 low bits zero, as strict decoding
// demands).
func keyOK(s string) bool {
	if len(s) != 44 || s[43] != '=' {
		return false
	}
	for i := 0; i < 43; i++ {
		v := b64val(s[i])
		if v < 0 || (i == 42 && v&3 != 0) {
			return false
		}
	}
	return true
}

func b64val(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}
