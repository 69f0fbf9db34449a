import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.RetryOneTime;

/** Harness check: Curator 5.4 connects, takes and releases a mutex, and prints one line. */
public class CuratorSmoke {
    public static void main(String[] args) throws Exception {
        try (CuratorFramework client = CuratorFrameworkFactory.newClient(args[0], new RetryOneTime(100))) {
            client.start();
            InterProcessMutex mutex = new InterProcessMutex(client, args[1]);
            mutex.acquire();
            System.out.println("ACQUIRED " + client.getChildren().forPath(args[1]).size());
            mutex.release();
        }
    }
}
