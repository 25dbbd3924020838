#if canImport(Glibc)
import Glibc
#endif

/// What `rotor serve` does first: the process holds decrypted keys, its keyring and every
/// token's means of checking, so no core file and no debugger attach by another user of the same
/// uid may copy its memory out.
enum ProcessHardening {
    /// Turns core dumps off (`RLIMIT_CORE` 0) and marks the process non-dumpable
    /// (`PR_SET_DUMPABLE` 0: no core, no `ptrace` attach by non-root users of the same uid, and
    /// `/proc/<pid>` readable by root only).
    static func apply() {
        #if os(Linux)
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &none)
        // prctl is variadic, which Swift cannot call; its integer arguments pass alike either way.
        if let symbol = dlsym(nil, "prctl") {
            let prctl = unsafeBitCast(symbol, to: (@convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32).self)
            let setDumpable: Int32 = 4  // PR_SET_DUMPABLE
            _ = prctl(setDumpable, 0, 0, 0, 0)
        }
        #endif
    }
}
