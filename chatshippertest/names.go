package chatshippertest

import "strings"

// Random but seeded conversation names ("Gnoboris Finestrip") and slugs.

var (
	nameHeads = []string{"Gno", "Fin", "Bor", "Ash", "Ely", "Mor", "Tal", "Quen", "Zar", "Vel", "Dra", "Oth", "Kel", "Syl", "Bra", "Ith"}
	nameMids  = []string{"bo", "ri", "es", "an", "el", "or", "ul", "ith", "ar", "en", "a", "o"}
	nameTails = []string{"ris", "strip", "wick", "dor", "mir", "vale", "thorn", "wyn", "gard", "mont", "lis", "rath"}
)

const slugAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"

func (s *Server) pick(list []string) string { return list[s.randIntN(len(list))] }

// fantasyName is the default name of a new conversation.
func (s *Server) fantasyName() string {
	word := func() string { return s.pick(nameHeads) + s.pick(nameMids) + s.pick(nameTails) }
	return word() + " " + word()
}

// slug is the 9-character public id used in a conversation's url.
func (s *Server) slug() string {
	var b strings.Builder
	for range 9 {
		b.WriteByte(slugAlphabet[s.randIntN(len(slugAlphabet))])
	}
	return b.String()
}
