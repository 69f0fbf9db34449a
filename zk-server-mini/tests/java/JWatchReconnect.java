// The Java 3.8 client across a dropped connection: it reconnects with its session and re-sends
// its watches with SetWatches2; the server fires what changed while it was away.
//
// usage: java -cp <zookeeper.jar>:<dir> JWatchReconnect HOST:PORT
// Prints READY once its watches are set, one "EVENT <type> <path>" line per watch event and
// "STATE <state>" per connection state change, then DONE (or TIMEOUT) and exits.
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

public class JWatchReconnect {
    public static void main(String[] args) throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(1);
        Watcher session = e -> {
            if (e.getType() == Watcher.Event.EventType.None) {
                System.out.println("STATE " + e.getState());
                if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                    connected.countDown();
                }
            } else {
                System.out.println("EVENT default " + e.getType() + " " + e.getPath());
            }
            System.out.flush();
        };
        ZooKeeper zk = new ZooKeeper(args[0], 8000, session);
        if (!connected.await(30, TimeUnit.SECONDS)) {
            System.out.println("TIMEOUT connecting");
            System.exit(1);
        }
        zk.create("/jv", "0".getBytes(), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        zk.create("/jvr", new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        Watcher w = e -> {
            System.out.println("EVENT " + e.getType() + " " + e.getPath());
            System.out.flush();
            if ("/jvr/y".equals(e.getPath())) {
                done.countDown();
            }
        };
        zk.getData("/jv", w, null);
        zk.exists("/jv/none", w);
        zk.getChildren("/jv", w);
        zk.addWatch("/jvr", w, AddWatchMode.PERSISTENT_RECURSIVE);
        System.out.println("READY");
        System.out.flush();
        boolean ok = done.await(60, TimeUnit.SECONDS);
        System.out.println(ok ? "DONE" : "TIMEOUT");
        System.out.flush();
        zk.close();
        System.exit(ok ? 0 : 1);
    }
}
