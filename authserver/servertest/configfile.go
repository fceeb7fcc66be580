package servertest

// ConfigFile is the path of the config file the server process runs with, for tools that
// work on the same realm (latch admin).
func (s *Server) ConfigFile() string { return s.configFile }
