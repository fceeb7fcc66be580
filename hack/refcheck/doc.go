// Package refcheck keeps the repository self-contained: a comment or a document may point at
// another file of the repository (docs/protocol.md and its sections, above all), never at a
// file beside it that a clone does not have, such as the directory the protocol documents
// were first collected in, or one of those documents by its file name. Its test, run by
// `make test`, lists the tracked files and fails naming every file:line that does.
package refcheck
