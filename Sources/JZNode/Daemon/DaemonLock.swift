import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on `<home>/daemon.lock` held for the daemon's lifetime, so two daemons never
/// run on one node home. The kernel drops it when the process dies, even on SIGKILL.
final class DaemonLock: Sendable {
    private let fd: Int32
    let path: String

    /// Takes the lock or fails naming the home.
    init(home: NodeHome) throws(NodeError) {
        path = (home.path as NSString).appendingPathComponent("daemon.lock")
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: path, reason: String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw .io(path: path, reason: "another jz-node daemon is running on this node home; stop it first")
        }
        self.fd = fd
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
