package kubenode

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hostState is what the node may change on the host, recorded before it changes anything
// (hostStateFile in the state directory, so that a later `down` can restore it after a
// crash) and compared with the host after the node is gone.
type hostState struct {
	// Mounts is every mount of this mount namespace, as "mountpoint fstype source".
	Mounts []string `json:"mounts"`
	// Paths are the host directories the node's components write outside the state directory
	// (hard-coded in them): whether each existed, and its entries if it did.
	Paths map[string]pathState `json:"paths"`
	// Sysctls are the values of the kernel settings the kubelet, kube-proxy and the CNI
	// plugins may write, by /proc/sys path.
	Sysctls map[string]string `json:"sysctls"`
	// Tables is the iptables-save and ip6tables-save output, by table ("iptables/nat").
	Tables map[string]string `json:"tables"`
	// NFTables lists nftables tables ("ip filter"): with iptables-nft, iptables creates them,
	// and iptables-restore cannot remove a table it did not find.
	NFTables []string `json:"nftables"`
	// NFAcct are the kernel's extended accounting objects (nfacct.go), which kube-proxy
	// creates for its rules and which outlive them.
	NFAcct []string `json:"nfacct"`
	// Links are the network interfaces.
	Links []string `json:"links"`
	// Cgroups lists the entries of every cgroup hierarchy's root directory, by mountpoint.
	Cgroups map[string][]string `json:"cgroups"`
}

type pathState struct {
	Exists  bool     `json:"exists"`
	Entries []string `json:"entries,omitempty"`
}

// hostPaths are the directories outside the state directory that the kubelet, containerd and
// the CNI plugins create or write whatever they are told: the kubelet's device-plugin socket
// directory and container log links, containerd's shim sockets, and the defaults of
// directories configured elsewhere here (so that a setting missed would show in the test).
var hostPaths = []string{
	"/var/lib/kubelet", "/var/log/containers", "/var/log/pods",
	"/run/containerd", "/var/lib/containerd", "/opt/containerd", "/etc/containerd",
	"/var/lib/cni", "/etc/cni", "/opt/cni", "/run/netns", "/run/nri", "/run/cdi", "/etc/cdi",
	"/tmp/hostpath-provisioner",
}

// sysctlGlobs are the kernel settings recorded: the kubelet's (vm.overcommit_memory,
// vm.panic_on_oom, kernel.panic, kernel.panic_on_oops, kernel.keys.*), kube-proxy's
// (route_localnet, conntrack), the bridge plugin's (ip_forward, forwarding) and the rest of
// the network's, which cost nothing to check.
var sysctlGlobs = []string{
	"/proc/sys/vm/*", "/proc/sys/kernel/panic*", "/proc/sys/kernel/keys/*",
	"/proc/sys/net/core/*", "/proc/sys/net/ipv4/*", "/proc/sys/net/ipv4/conf/*/*", "/proc/sys/net/ipv6/conf/*/*",
	"/proc/sys/net/bridge/*", "/proc/sys/net/netfilter/*",
}

// volatileSysctls change on their own.
var volatileSysctls = map[string]bool{
	"/proc/sys/net/netfilter/nf_conntrack_count": true,
	"/proc/sys/vm/stat_refresh":                  true,
	"/proc/sys/vm/drop_caches":                   true,
	"/proc/sys/vm/compact_memory":                true,
}

const hostStateFile = "host.json"

// snapshotHost records the host's state. It fails only when something it must be able to
// restore cannot be read.
func snapshotHost() (*hostState, error) {
	s := &hostState{Paths: map[string]pathState{}, Sysctls: map[string]string{}, Tables: map[string]string{}, Cgroups: map[string][]string{}}
	var err error
	if s.Mounts, err = mounts(); err != nil {
		return nil, err
	}
	for _, p := range hostPaths {
		s.Paths[p] = readPath(p)
	}
	for _, g := range sysctlGlobs {
		files, _ := filepath.Glob(g)
		for _, f := range files {
			if volatileSysctls[f] {
				continue
			}
			if st, err := os.Stat(f); err != nil || st.IsDir() || st.Mode()&0o444 == 0 || st.Mode()&0o222 == 0 {
				continue // a directory, or read-only or write-only: not a setting that is written
			}
			if b, err := os.ReadFile(f); err == nil {
				s.Sysctls[f] = strings.TrimSpace(string(b))
			}
		}
	}
	for _, bin := range []string{"iptables", "ip6tables"} {
		tables, err := saveTables(bin)
		if err != nil {
			return nil, err
		}
		for t, dump := range tables {
			s.Tables[bin+"/"+t] = dump
		}
	}
	if s.NFTables, err = nftTables(); err != nil {
		return nil, err
	}
	if s.NFAcct, err = nfacctObjects(); err != nil {
		return nil, err
	}
	if s.Links, err = links(); err != nil {
		return nil, err
	}
	for _, mp := range cgroupMounts() {
		ents, err := os.ReadDir(mp)
		if err != nil {
			return nil, err
		}
		var dirs []string
		for _, e := range ents {
			if e.IsDir() {
				dirs = append(dirs, e.Name())
			}
		}
		s.Cgroups[mp] = dirs
	}
	return s, nil
}

func (s *hostState) save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	// The record must survive a crash of this process: it is what `down` restores from.
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func loadHostState(path string) (*hostState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s hostState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// diff lists how the host differs from s, one line per difference; nil when it is as
// recorded. Sysctls of interfaces that came or went are left to the links' line.
func (s *hostState) diff(now *hostState) []string {
	var d []string
	if add, del := setDiff(s.Mounts, now.Mounts); len(add)+len(del) > 0 {
		d = append(d, fmt.Sprintf("mounts: new %q, gone %q", add, del))
	}
	for _, p := range hostPaths {
		a, b := s.Paths[p], now.Paths[p]
		if a.Exists != b.Exists {
			d = append(d, fmt.Sprintf("%s: existed %v, exists %v", p, a.Exists, b.Exists))
		} else if add, del := setDiff(a.Entries, b.Entries); len(add)+len(del) > 0 {
			d = append(d, fmt.Sprintf("%s: new entries %q, gone %q", p, add, del))
		}
	}
	for k, v := range s.Sysctls {
		if w, ok := now.Sysctls[k]; ok && w != v {
			d = append(d, fmt.Sprintf("%s: %q, was %q", k, w, v))
		}
	}
	keys := func(m map[string]string) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		return ks
	}
	if add, del := setDiff(keys(s.Tables), keys(now.Tables)); len(add)+len(del) > 0 {
		d = append(d, fmt.Sprintf("iptables tables: new %q, gone %q", add, del))
	}
	for k, v := range s.Tables {
		if w, ok := now.Tables[k]; ok && w != v {
			d = append(d, fmt.Sprintf("%s changed:\n%s\nwas:\n%s", k, w, v))
		}
	}
	if add, del := setDiff(s.NFTables, now.NFTables); len(add)+len(del) > 0 {
		d = append(d, fmt.Sprintf("nftables tables: new %q, gone %q", add, del))
	}
	if add, del := setDiff(s.NFAcct, now.NFAcct); len(add)+len(del) > 0 {
		d = append(d, fmt.Sprintf("nfacct objects: new %q, gone %q", add, del))
	}
	if add, del := setDiff(s.Links, now.Links); len(add)+len(del) > 0 {
		d = append(d, fmt.Sprintf("links: new %q, gone %q", add, del))
	}
	for mp, dirs := range s.Cgroups {
		if add, del := setDiff(dirs, now.Cgroups[mp]); len(add)+len(del) > 0 {
			d = append(d, fmt.Sprintf("cgroups %s: new %q, gone %q", mp, add, del))
		}
	}
	return d
}

// setDiff returns what b has more than a and what a has more than b, as multisets.
func setDiff(a, b []string) (added, removed []string) {
	count := map[string]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	for x, n := range count {
		for ; n < 0; n++ {
			added = append(added, x)
		}
		for ; n > 0; n-- {
			removed = append(removed, x)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}

func readPath(p string) pathState {
	st, err := os.Lstat(p)
	if err != nil {
		return pathState{}
	}
	ps := pathState{Exists: true}
	if st.IsDir() {
		ents, _ := os.ReadDir(p)
		for _, e := range ents {
			ps.Entries = append(ps.Entries, e.Name())
		}
	}
	return ps
}

// mount is one line of /proc/self/mountinfo.
type mount struct{ point, fstype, source string }

func (m mount) String() string { return m.point + " " + m.fstype + " " + m.source }

func mountTable() ([]mount, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var ms []mount
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 2 {
			continue
		}
		ms = append(ms, mount{point: unescapeMount(f[4]), fstype: g[0], source: unescapeMount(g[1])})
	}
	return ms, nil
}

func mounts() ([]string, error) {
	ms, err := mountTable()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out, nil
}

var octal = regexp.MustCompile(`\\[0-7]{3}`)

// unescapeMount undoes mountinfo's octal escapes of space, tab, newline and backslash.
func unescapeMount(s string) string {
	return octal.ReplaceAllStringFunc(s, func(e string) string {
		n, _ := strconv.ParseUint(e[1:], 8, 8)
		return string(rune(n))
	})
}

// saveTables runs iptables-save (or ip6tables-save) and splits the dump by table, without
// its comments and counters, so that equal rules compare equal.
func saveTables(bin string) (map[string]string, error) {
	out, err := exec.Command(bin + "-save").Output()
	if err != nil {
		return nil, fmt.Errorf("%s-save: %w", bin, err)
	}
	counters := regexp.MustCompile(`\[\d+:\d+\]`)
	tables := map[string]string{}
	var name string
	var cur strings.Builder
	for line := range strings.SplitSeq(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "#") || line == "":
		case strings.HasPrefix(line, "*"):
			name = line[1:]
			cur.Reset()
			cur.WriteString(line + "\n")
		case line == "COMMIT":
			cur.WriteString(line + "\n")
			tables[name] = cur.String()
		default:
			cur.WriteString(counters.ReplaceAllString(line, "[0:0]") + "\n")
		}
	}
	return tables, nil
}

// nftTables lists the nftables tables as "family name".
func nftTables() ([]string, error) {
	out, err := exec.Command("nft", "list", "tables").Output()
	if err != nil {
		return nil, fmt.Errorf("nft list tables: %w", err)
	}
	var ts []string
	for line := range strings.SplitSeq(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "table" {
			ts = append(ts, f[1]+" "+f[2])
		}
	}
	sort.Strings(ts)
	return ts, nil
}

func links() ([]string, error) {
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return nil, err
	}
	var ls []string
	for _, e := range ents {
		ls = append(ls, e.Name())
	}
	return ls, nil
}

// cgroupMounts are the mountpoints of every cgroup hierarchy (v1 controllers, a v2 unified
// hierarchy or both).
func cgroupMounts() []string {
	ms, _ := mountTable()
	var out []string
	for _, m := range ms {
		if (m.fstype == "cgroup" || m.fstype == "cgroup2") && !slices.Contains(out, m.point) {
			out = append(out, m.point)
		}
	}
	return out
}

// restoreHost undoes what a node changed: it kills every process of the node still alive,
// unmounts what it mounted, removes its cgroups, links, tables and directories and writes the
// sysctls back. It goes on past a failure, so as to undo as much as it can, and returns every
// failure. dir is the node's state directory; before may be nil (the node crashed before it
// recorded anything, and so changed nothing outside dir).
func restoreHost(dir string, before *hostState) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(killNodeProcesses(dir))
	watched := append([]string{dir}, hostPaths...)
	if before != nil {
		add(unmountNew(before.Mounts, watched))
	} else {
		add(unmountNew(nil, []string{dir}))
	}
	add(removeCgroups())
	if before == nil {
		return errors.Join(errs...)
	}
	add(removeLinks(before.Links))
	add(restoreTables(before))
	add(removeNfacct(before.NFAcct)) // once no rule uses them
	add(restoreSysctls(before.Sysctls))
	for _, p := range hostPaths {
		add(restorePath(p, before.Paths[p]))
	}
	return errors.Join(errs...)
}

// killNodeProcesses kills whatever of the node outlived its parent: the processes of the pods
// (found by the cgroups under the node's cgroup root), and the containerd shims and any
// component whose command line names the state directory (the shims' -address is the
// node's containerd socket there). It waits until they are gone.
func killNodeProcesses(dir string) error {
	self := ancestors()
	deadline := time.Now().Add(15 * time.Second)
	for {
		pids := map[int]bool{}
		for _, mp := range cgroupMounts() {
			_ = filepath.WalkDir(filepath.Join(mp, cgroupRootName), func(p string, d os.DirEntry, err error) error {
				if err != nil || !d.IsDir() {
					return nil
				}
				b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
				for f := range strings.FieldsSeq(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil && !self[pid] {
						pids[pid] = true
					}
				}
				return nil
			})
		}
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, c := range procs {
			pid, err := strconv.Atoi(filepath.Base(filepath.Dir(c)))
			if err != nil || self[pid] {
				continue
			}
			b, _ := os.ReadFile(c)
			if bytes.Contains(b, []byte(dir+"/")) || bytes.Contains(b, append([]byte(dir), 0)) {
				pids[pid] = true
			}
		}
		var alive []int
		for pid := range pids {
			if isAlive(pid) {
				alive = append(alive, pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes of the node survive SIGKILL: %v", alive)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ancestors are this process and the processes above it, which a `down` run with the state
// directory in its arguments must not kill.
func ancestors() map[int]bool {
	m := map[int]bool{}
	for pid := os.Getpid(); pid > 1 && !m[pid]; {
		m[pid] = true
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			break
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			break
		}
		pid, _ = strconv.Atoi(f[1])
	}
	return m
}

// isAlive reports whether pid exists and is not a zombie.
func isAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// unmountNew unmounts every mount that is not in before and lies under one of the watched
// paths, deepest first, until none is left: the kubelet's tmpfs volumes and its bind mount of
// its own root, containerd's overlays and the pods' network namespaces.
func unmountNew(before []string, watched []string) error {
	under := func(p string) bool {
		for _, w := range watched {
			if p == w || strings.HasPrefix(p, w+"/") {
				return true
			}
		}
		return false
	}
	var last []string
	for range 20 {
		now, err := mountTable()
		if err != nil {
			return err
		}
		var nowS []string
		for _, m := range now {
			nowS = append(nowS, m.String())
		}
		added, _ := setDiff(before, nowS)
		extra := map[string]int{}
		for _, a := range added {
			extra[a]++
		}
		// The new ones of equal mounts are the last listed (mountinfo lists in mount order).
		var todo []mount
		for _, m := range slices.Backward(now) {
			if extra[m.String()] > 0 && under(m.point) {
				extra[m.String()]--
				todo = append(todo, m)
			}
		}
		if len(todo) == 0 {
			return nil
		}
		// Deepest first; of mounts stacked on one point, the last mounted first.
		sort.SliceStable(todo, func(i, j int) bool { return len(todo[i].point) > len(todo[j].point) })
		last = last[:0]
		for _, m := range todo {
			if err := syscall.Unmount(m.point, 0); err != nil {
				if err := syscall.Unmount(m.point, syscall.MNT_DETACH); err != nil {
					last = append(last, fmt.Sprintf("%s: %v", m, err))
				}
			}
		}
	}
	return fmt.Errorf("mounts left after unmounting: %v", last)
}

// cgroupRootName is the node's cgroup root, the kubelet's cgroupRoot, under every hierarchy.
const cgroupRootName = "latch-node"

// makeCgroups creates the cgroup root under every hierarchy: the kubelet's cgroupfs driver
// expects it to exist in each v1 controller. cpuset children start with no CPUs or memory
// nodes, so it gets the parent's.
func makeCgroups() error {
	for _, mp := range cgroupMounts() {
		d := filepath.Join(mp, cgroupRootName)
		if err := os.Mkdir(d, 0o755); err != nil && !os.IsExist(err) {
			return fmt.Errorf("create cgroup %s: %w", d, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if b, err := os.ReadFile(filepath.Join(mp, f)); err == nil {
				if err := os.WriteFile(filepath.Join(d, f), b, 0o644); err != nil {
					return fmt.Errorf("write %s: %w", filepath.Join(d, f), err)
				}
			}
		}
	}
	return nil
}

// removeCgroups removes the node's cgroup root in every hierarchy, children first. A cgroup
// can be removed once its last process has exited, which takes a moment after SIGKILL.
func removeCgroups() error {
	var errs []error
	for _, mp := range cgroupMounts() {
		root := filepath.Join(mp, cgroupRootName)
		if _, err := os.Stat(root); err != nil {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			var err error
			for deadline := time.Now().Add(10 * time.Second); ; {
				if err = syscall.Rmdir(d); err == nil || os.IsNotExist(err) || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil && !os.IsNotExist(err) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// removeLinks deletes the interfaces that were not there before: the node's bridge and the
// host ends of the pods' veth pairs. A pod's pair goes with its network namespace once that
// is unmounted and empty, which the kernel does a moment later, so they get a few seconds.
func removeLinks(before []string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		now, err := links()
		if err != nil {
			return err
		}
		added, _ := setDiff(before, now)
		if len(added) == 0 {
			return nil
		}
		var errs []error
		for _, l := range added {
			if l != bridgeName && !strings.HasPrefix(l, "veth") {
				continue // not the node's: leave it to whoever made it
			}
			if out, err := exec.Command("ip", "link", "delete", l).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
				errs = append(errs, fmt.Errorf("ip link delete %s: %v: %s", l, err, out))
			}
		}
		if time.Now().After(deadline) {
			return errors.Join(append(errs, fmt.Errorf("links left: %v", added))...)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restoreTables puts iptables back: an nftables table the node created (iptables-nft makes
// one per iptables table it first touches) is deleted, and an iptables table that existed
// and changed gets its recorded rules back with iptables-restore, which replaces exactly the
// tables it is given.
func restoreTables(before *hostState) error {
	var errs []error
	nowNFT, err := nftTables()
	if err != nil {
		return err
	}
	added, _ := setDiff(before.NFTables, nowNFT)
	for _, t := range added {
		fam, name, _ := strings.Cut(t, " ")
		if out, err := exec.Command("nft", "delete", "table", fam, name).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("nft delete table %s: %v: %s", t, err, out))
		}
	}
	for _, bin := range []string{"iptables", "ip6tables"} {
		now, err := saveTables(bin)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for t, dump := range now {
			was, existed := before.Tables[bin+"/"+t]
			switch {
			case existed && was == dump:
			case existed:
				cmd := exec.Command(bin + "-restore")
				cmd.Stdin = strings.NewReader(was)
				if out, err := cmd.CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s-restore of table %s: %v: %s", bin, t, err, out))
				}
			default:
				// A table that was not there and is still there (iptables-legacy, whose
				// tables live as long as their module): emptied, as before it held nothing.
				for _, args := range [][]string{{"-t", t, "-F"}, {"-t", t, "-X"}} {
					if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
						errs = append(errs, fmt.Errorf("%s %s: %v: %s", bin, strings.Join(args, " "), err, out))
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

// removeNfacct deletes the accounting objects that were not there before.
func removeNfacct(before []string) error {
	now, err := nfacctObjects()
	if err != nil {
		return err
	}
	added, _ := setDiff(before, now)
	var errs []error
	for _, name := range added {
		errs = append(errs, deleteNfacct(name))
	}
	return errors.Join(errs...)
}

func restoreSysctls(before map[string]string) error {
	var errs []error
	for f, v := range before {
		b, err := os.ReadFile(f)
		if err != nil || strings.TrimSpace(string(b)) == v {
			continue // gone with its interface, or unchanged
		}
		if err := os.WriteFile(f, []byte(v+"\n"), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore %s to %q: %w", f, v, err))
		}
	}
	return errors.Join(errs...)
}

// restorePath removes a host directory the node created, or the entries it added to one that
// was there.
func restorePath(p string, was pathState) error {
	now := readPath(p)
	if !now.Exists {
		return nil
	}
	if !was.Exists {
		return os.RemoveAll(p)
	}
	added, _ := setDiff(was.Entries, now.Entries)
	var errs []error
	for _, e := range added {
		if err := os.RemoveAll(filepath.Join(p, e)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readLines is a small helper for files of one value per line.
func readLines(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		out = append(out, s.Text())
	}
	return out
}
