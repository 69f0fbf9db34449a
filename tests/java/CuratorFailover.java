// Curator 5.4 through a leader failover: connects with the whole connect string, writes,
// prints READY, waits for a line on stdin (the test kills the leader meanwhile), then writes
// again through Curator's retry loop and prints what it observes.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.data.Stat;

public class CuratorFailover {
    public static void main(String[] args) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(args[0])
                .sessionTimeoutMs(30000)
                .connectionTimeoutMs(15000)
                .retryPolicy(new RetryNTimes(600, 100))
                .build();
        c.start();
        c.blockUntilConnected();
        long sid = c.getZookeeperClient().getZooKeeper().getSessionId();
        c.create().forPath("/cur", "0".getBytes());
        c.create().withMode(CreateMode.EPHEMERAL).forPath("/cureph");
        for (int i = 1; i <= 10; i++) {
            c.setData().forPath("/cur", Integer.toString(i).getBytes());
        }
        System.out.println("READY");
        System.out.flush();
        new BufferedReader(new InputStreamReader(System.in)).readLine();
        c.setData().forPath("/cur", "after".getBytes());
        Stat stat = new Stat();
        byte[] data = c.getData().storingStatIn(stat).forPath("/cur");
        boolean same = c.getZookeeperClient().getZooKeeper().getSessionId() == sid;
        System.out.println("curator same session " + same);
        System.out.println("curator ephemeral kept " + (c.checkExists().forPath("/cureph") != null));
        System.out.println("curator data " + new String(data) + " version " + stat.getVersion());
        c.close();
        System.out.println("DONE");
        System.out.flush();
    }
}
