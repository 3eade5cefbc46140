import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import inet.ipaddr.IPAddressString;
import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;

/**
 * Runs Neo4j Community as a Bolt server around the embedded DatabaseManagementService.
 *
 * Usage: java -cp "lib/*" Neo4jLauncher.java HOME_DIR HOST BOLT_PORT PASSWORD_FILE PAGE_CACHE
 *
 * Authentication is on. At each start the password of the built-in user "neo4j" is set to the
 * content of PASSWORD_FILE, so the file that kg-service generated stays the single source of truth.
 * The process stops cleanly on SIGTERM (the JVM shutdown hook shuts the databases down).
 */
public final class Neo4jLauncher {

    private Neo4jLauncher() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: Neo4jLauncher HOME_DIR HOST BOLT_PORT PASSWORD_FILE PAGE_CACHE");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        String host = args[1];
        int boltPort = Integer.parseInt(args[2]);
        String password = Files.readString(Path.of(args[3]), StandardCharsets.UTF_8).strip();
        String pageCache = args[4];

        log("starting Neo4j in " + home + " with Bolt on " + host + ":" + boltPort);

        DatabaseManagementService service = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(host, boltPort))
                .setConfig(BoltConnector.advertised_address, new SocketAddress(host, boltPort))
                .setConfig(HttpConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                // LOAD CSV must not read the machine's files: kg-service loads data through Bolt.
                .setConfig(GraphDatabaseSettings.allow_file_urls, false)
                // Nor any URL: every address is blocked, so a Cypher query cannot make the server call out.
                .setConfig(GraphDatabaseInternalSettings.cypher_ip_blocklist,
                        List.of(new IPAddressString("0.0.0.0/0"), new IPAddressString("::/0")))
                .setConfig(GraphDatabaseSettings.logs_directory, home.resolve("logs"))
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.parse(pageCache))
                .setConfig(GraphDatabaseSettings.shutdown_transaction_end_timeout, Duration.ofSeconds(10))
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log("stopping Neo4j");
            service.shutdown();
            log("Neo4j stopped");
            stopped.countDown();
        }, "neo4j-shutdown"));

        setPassword(service, password);
        log("Neo4j ready: bolt://" + host + ":" + boltPort);
        stopped.await();
    }

    private static void setPassword(DatabaseManagementService service, String password) {
        // In-process transactions on the system database run with full rights, so no login is needed here.
        GraphDatabaseService system = service.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        system.executeTransactionally(
                "ALTER USER neo4j SET PLAINTEXT PASSWORD $password CHANGE NOT REQUIRED",
                Map.of("password", password));
    }

    private static void log(String message) {
        System.out.println(java.time.Instant.now() + " INFO  [kg-service launcher] " + message);
        System.out.flush();
    }
}
