package kubenode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"syscall"
)

// kube-proxy counts the packets its iptables rules drop as conntrack-invalid in a named
// extended accounting object of the kernel (nfnetlink_acct: the rule's `-m nfacct`), which it
// creates itself and which outlives the rule. No program the node installs can list or
// delete one (that is the nfacct tool), so these few netlink calls do.

const (
	netlinkNetfilter = 12 // NETLINK_NETFILTER
	nfnlSubsysAcct   = 7  // NFNL_SUBSYS_ACCT
	nfnlMsgAcctNew   = 0
	nfnlMsgAcctGet   = 1
	nfnlMsgAcctDel   = 3 // after NEW, GET, GET_CTRZERO
	nfacctName       = 1 // NFACCT_NAME
)

// nfacctObjects lists the names of the accounting objects.
func nfacctObjects() ([]string, error) {
	msgs, err := nfacctRequest(nfnlMsgAcctGet, syscall.NLM_F_DUMP, "")
	if err != nil {
		return nil, fmt.Errorf("list nfacct objects: %w", err)
	}
	var names []string
	for _, m := range msgs {
		if m.Header.Type != nfnlSubsysAcct<<8|nfnlMsgAcctNew || len(m.Data) < 4 {
			continue
		}
		attrs := m.Data[4:] // after struct nfgenmsg
		for len(attrs) >= 4 {
			l := int(binary.NativeEndian.Uint16(attrs[0:2]))
			typ := binary.NativeEndian.Uint16(attrs[2:4]) &^ (1 << 15) // NLA_F_NESTED
			if l < 4 || l > len(attrs) {
				break
			}
			if typ == nfacctName {
				v := attrs[4:l]
				for len(v) > 0 && v[len(v)-1] == 0 {
					v = v[:len(v)-1]
				}
				names = append(names, string(v))
			}
			attrs = attrs[min((l+3)&^3, len(attrs)):]
		}
	}
	sort.Strings(names)
	return names, nil
}

// deleteNfacct deletes one accounting object; one still used by a rule cannot be.
func deleteNfacct(name string) error {
	if _, err := nfacctRequest(nfnlMsgAcctDel, syscall.NLM_F_ACK, name); err != nil {
		return fmt.Errorf("delete nfacct object %q: %w", name, err)
	}
	return nil
}

// nfacctRequest sends one nfnetlink_acct request and reads the answer up to its end.
func nfacctRequest(msgType uint16, flags uint16, name string) ([]syscall.NetlinkMessage, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, netlinkNetfilter)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return nil, err
	}
	body := []byte{syscall.AF_UNSPEC, 0, 0, 0} // struct nfgenmsg: family, version, res_id
	if name != "" {
		v := append([]byte(name), 0)
		attr := make([]byte, 4, 4+len(v)+3)
		binary.NativeEndian.PutUint16(attr[0:2], uint16(4+len(v)))
		binary.NativeEndian.PutUint16(attr[2:4], nfacctName)
		attr = append(attr, v...)
		for len(attr)%4 != 0 {
			attr = append(attr, 0)
		}
		body = append(body, attr...)
	}
	msg := make([]byte, syscall.NLMSG_HDRLEN, syscall.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(msg[0:4], uint32(syscall.NLMSG_HDRLEN+len(body)))
	binary.NativeEndian.PutUint16(msg[4:6], nfnlSubsysAcct<<8|msgType)
	binary.NativeEndian.PutUint16(msg[6:8], syscall.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(msg[8:12], 1) // seq
	msg = append(msg, body...)
	if err := syscall.Sendto(fd, msg, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return nil, err
	}
	var out []syscall.NetlinkMessage
	buf := make([]byte, 1<<16)
	for {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return out, nil
			case syscall.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return nil, errors.New("short netlink error")
				}
				if code := int32(binary.NativeEndian.Uint32(m.Data[0:4])); code != 0 {
					return nil, syscall.Errno(-code)
				}
				return out, nil // the ACK
			default:
				out = append(out, m)
			}
		}
	}
}
