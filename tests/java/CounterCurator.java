import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.retry.RetryNTimes;
import org.apache.curator.retry.RetryOneTime;

/**
 * Curator's counters on the same nodes as zk_recipes::counter.
 *
 * shared HOSTS PATH N: N compare-and-set increments of a SharedCount (4-byte format).
 * long HOSTS PATH N: N increments of a DistributedAtomicLong (8-byte format).
 * Prints "READY" once connected, then "DONE <value after the last increment>".
 */
public class CounterCurator {
    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[3]);
        try (CuratorFramework client = CuratorFrameworkFactory.newClient(args[1], new RetryOneTime(100))) {
            client.start();
            client.blockUntilConnected();
            System.out.println("READY");
            System.out.flush();
            long last = 0;
            if (args[0].equals("shared")) {
                try (SharedCount count = new SharedCount(client, args[2], 0)) {
                    count.start();
                    for (int i = 0; i < n; i++) {
                        while (true) {
                            VersionedValue<Integer> seen = count.getVersionedValue();
                            if (count.trySetCount(seen, seen.getValue() + 1)) {
                                last = seen.getValue() + 1;
                                break;
                            }
                        }
                    }
                }
            } else {
                DistributedAtomicLong value = new DistributedAtomicLong(client, args[2], new RetryNTimes(10000, 1));
                for (int i = 0; i < n; i++) {
                    AtomicValue<Long> r;
                    do {
                        r = value.increment();
                    } while (!r.succeeded());
                    last = r.postValue();
                }
            }
            System.out.println("DONE " + last);
        }
    }
}
