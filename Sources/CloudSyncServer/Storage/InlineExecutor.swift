import Dispatch
import Synchronization

/// Runs async code to completion on the calling thread: a task executor whose jobs the caller
/// runs itself while it waits.
///
/// The Row-Level Security engine (`RowSecurity`) is written once, async, for both storages.
/// On the embedded storage its operations are plain SQLite calls that never suspend, and they
/// must stay on the database's writer queue (off the cooperative pool, one job at a time), so
/// the writer runs the engine here instead of handing it to the pool.
final class InlineExecutor: TaskExecutor, @unchecked Sendable {
    private let jobs = Mutex<[UnownedJob]>([])
    private let wake = DispatchSemaphore(value: 0)

    private init() {}

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
        wake.signal()
    }

    /// Runs `body` and returns its result once it has finished, blocking the calling thread
    /// (which must not be one of the cooperative pool's) meanwhile.
    static func run<T>(_ body: @escaping () async throws -> T) throws -> T {
        let executor = InlineExecutor()
        let outcome = Outcome<T>()
        let work = Unchecked(body)
        Task(executorPreference: executor) {
            do {
                outcome.result = .success(try await work.value())
            } catch {
                outcome.result = .failure(error)
            }
        }
        while outcome.result == nil {
            executor.wake.wait()
            for job in executor.jobs.withLock({ jobs in defer { jobs = [] }; return jobs }) {
                job.runSynchronously(on: executor.asUnownedTaskExecutor())
            }
        }
        return try outcome.result!.get()
    }

    /// The task's result, written by the task on the calling thread (its jobs run there).
    private final class Outcome<T>: @unchecked Sendable {
        var result: Result<T, any Error>?
    }

    /// A value handed to the task, which runs on the thread that made it.
    private struct Unchecked<Value>: @unchecked Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }
}
