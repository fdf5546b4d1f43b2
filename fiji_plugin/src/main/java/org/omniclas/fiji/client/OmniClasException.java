package org.omniclas.fiji.client;

/**
 * Any failure talking to the OmniClas server. {@link #getMessage()} is meant to be shown to the user as is:
 * for server errors it is the server's own JSON message, for connection failures it explains how to start
 * the server.
 */
public class OmniClasException extends Exception {
    private static final long serialVersionUID = 1L;

    /** HTTP status, or 0 when the server could not be reached at all. */
    private final int status;
    /** The input the server blamed, or null. */
    private final String field;
    private final boolean connectionFailure;

    public OmniClasException(int status, String message, String field) {
        super(message);
        this.status = status;
        this.field = field;
        this.connectionFailure = false;
    }

    private OmniClasException(String message, Throwable cause) {
        super(message, cause);
        this.status = 0;
        this.field = null;
        this.connectionFailure = true;
    }

    /** The server is not running / not reachable at {@code url}. */
    public static OmniClasException unreachable(String url, Throwable cause) {
        String why = cause == null || cause.getMessage() == null ? "" : " (" + cause.getMessage() + ")";
        return new OmniClasException("Cannot reach the OmniClas server at " + url + why + ".\n\n"
                + "Fiji starts it for you once Plugins > OmniClas > Server Settings... knows the OmniClas\n"
                + "environment (macro: run(\"Server Settings...\", \"start\")), or start it in a terminal:\n"
                + "    " + serveCommand(url) + "\n"
                + "(FOLDER holds the datasets you train on).", cause);
    }

    /** {@code omniclas serve} for the server at {@code url}: its port (and a host other than loopback) given. */
    static String serveCommand(String url) {
        StringBuilder cmd = new StringBuilder("omniclas serve");
        try {
            java.net.URI uri = new java.net.URI(url);
            String host = uri.getHost();
            if (host != null && !host.equals("127.0.0.1") && !host.equals("localhost")) cmd.append(" --host ").append(host);
            if (uri.getPort() > 0 && uri.getPort() != DEFAULT_PORT) cmd.append(" --port ").append(uri.getPort());
        } catch (java.net.URISyntaxException e) {
            // the URL's own problem is said elsewhere
        }
        return cmd.append(" --dataset-root FOLDER").toString();
    }

    /** The port of {@code omniclas serve} when none is given. */
    public static final int DEFAULT_PORT = 5000;

    public int getStatus() { return status; }
    public String getField() { return field; }
    public boolean isConnectionFailure() { return connectionFailure; }
    public boolean isUnauthorized() { return status == 401; }
}
