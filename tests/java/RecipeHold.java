import java.util.Collection;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import java.util.Arrays;
import org.apache.curator.framework.recipes.barriers.DistributedBarrier;
import org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier;
import org.apache.curator.framework.recipes.locks.InterProcessMultiLock;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.retry.RetryNTimes;

/**
 * Curator peer for the semaphore / read-write lock / double barrier interop tests.
 * Usage: RecipeHold CONNECT KIND PATH ARG
 *   sem-hold N:   takes all N leases of an InterProcessSemaphoreV2(PATH, N); HELD; waits for a
 *                 line on stdin; returns them; RELEASED
 *   sem-try N:    tries one lease of InterProcessSemaphoreV2(PATH, N) for 300 ms: GOT or BLOCKED
 *   write-hold _ / read-hold _: holds the write / read lock of InterProcessReadWriteLock(PATH)
 *                 until a line on stdin (HELD ... RELEASED)
 *   write-try _ / read-try _:   tries for 300 ms: GOT or BLOCKED
 *   double N:     DistributedDoubleBarrier(PATH, N): enter (20 s) -> ENTERED, leave -> LEFT
 *   barrier-set _:   DistributedBarrier(PATH).setBarrier(); HELD; waits for a line on stdin;
 *                    removeBarrier(); RELEASED
 *   barrier-wait MS: DistributedBarrier(PATH).waitOnBarrier(MS ms): PASSED or TIMEOUT
 *   multi-hold _:    InterProcessMultiLock(PATH/a, PATH/b): HELD; line on stdin; RELEASED
 *   multi-try _:     the same for 300 ms: GOT or BLOCKED
 */
public class RecipeHold {
    public static void main(String[] args) throws Exception {
        String connect = args[0], kind = args[1], path = args[2];
        int n = Integer.parseInt(args[3]);
        try (CuratorFramework c = CuratorFrameworkFactory.builder().connectString(connect)
                .sessionTimeoutMs(4000).connectionTimeoutMs(4000)
                .retryPolicy(new RetryNTimes(20, 100)).build()) {
            c.start();
            c.blockUntilConnected();
            switch (kind) {
                case "sem-hold": {
                    InterProcessSemaphoreV2 s = new InterProcessSemaphoreV2(c, path, n);
                    Collection<Lease> leases = s.acquire(n);
                    System.out.println("HELD");
                    System.in.read();
                    s.returnAll(leases);
                    System.out.println("RELEASED");
                    break;
                }
                case "sem-try": {
                    InterProcessSemaphoreV2 s = new InterProcessSemaphoreV2(c, path, n);
                    Lease l = s.acquire(300, TimeUnit.MILLISECONDS);
                    System.out.println(l == null ? "BLOCKED" : "GOT");
                    if (l != null) s.returnLease(l);
                    break;
                }
                case "write-hold":
                case "read-hold": {
                    InterProcessReadWriteLock rw = new InterProcessReadWriteLock(c, path);
                    InterProcessMutex m = kind.startsWith("write") ? rw.writeLock() : rw.readLock();
                    m.acquire();
                    System.out.println("HELD");
                    System.in.read();
                    m.release();
                    System.out.println("RELEASED");
                    break;
                }
                case "write-try":
                case "read-try": {
                    InterProcessReadWriteLock rw = new InterProcessReadWriteLock(c, path);
                    InterProcessMutex m = kind.startsWith("write") ? rw.writeLock() : rw.readLock();
                    boolean got = m.acquire(300, TimeUnit.MILLISECONDS);
                    System.out.println(got ? "GOT" : "BLOCKED");
                    if (got) m.release();
                    break;
                }
                case "double": {
                    DistributedDoubleBarrier b = new DistributedDoubleBarrier(c, path, n);
                    System.out.println(b.enter(20, TimeUnit.SECONDS) ? "ENTERED" : "TIMEOUT");
                    System.out.println(b.leave(20, TimeUnit.SECONDS) ? "LEFT" : "TIMEOUT");
                    break;
                }
                case "barrier-set": {
                    DistributedBarrier b = new DistributedBarrier(c, path);
                    b.setBarrier();
                    System.out.println("HELD");
                    System.in.read();
                    b.removeBarrier();
                    System.out.println("RELEASED");
                    break;
                }
                case "barrier-wait": {
                    DistributedBarrier b = new DistributedBarrier(c, path);
                    System.out.println(b.waitOnBarrier(n, TimeUnit.MILLISECONDS) ? "PASSED" : "TIMEOUT");
                    break;
                }
                case "multi-hold":
                case "multi-try": {
                    InterProcessMultiLock m =
                        new InterProcessMultiLock(c, Arrays.asList(path + "/a", path + "/b"));
                    if (kind.equals("multi-try")) {
                        boolean got = m.acquire(300, TimeUnit.MILLISECONDS);
                        System.out.println(got ? "GOT" : "BLOCKED");
                        if (got) m.release();
                        break;
                    }
                    m.acquire();
                    System.out.println("HELD");
                    System.in.read();
                    m.release();
                    System.out.println("RELEASED");
                    break;
                }
                default:
                    throw new IllegalArgumentException(kind);
            }
        }
    }
}
