/// The dashboard's mustache templates. Kept in the binary (no resource bundle to ship next to
/// the executable); `{{value}}` is HTML-escaped, and no template uses `{{{raw}}}`.
enum DashboardTemplates {
    static let all: [String: String] = [
        "header": header, "footer": footer, "dbnav": dbnav, "signin": signin, "message": message,
        "databases": databases, "new-database": newDatabase, "database": database, "devices": devices,
        "keys": keys, "policies": policies, "refused": refused,
    ]

    static let header = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · cloudsync-server</title>
        <style>
        :root { --fg: #1d2430; --muted: #5b6675; --line: #d9dee5; --bg: #f5f7fa; --accent: #1f5fbf; --bad: #b3261e; --ok: #1b7f3b; }
        * { box-sizing: border-box; }
        a, a:visited { color: var(--accent); }
        body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
        header.bar { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #16202e; color: #fff; }
        header.bar a { color: #dbe6f5; text-decoration: none; }
        header.bar a.brand { font-weight: 700; color: #fff; }
        header.bar nav { display: flex; gap: 18px; flex: 1; }
        header.bar form { margin: 0; display: flex; gap: 10px; align-items: center; color: #b8c4d4; }
        main { max-width: 1040px; margin: 24px auto; padding: 0 24px; }
        h1 { font-size: 24px; margin: 0 0 16px; } h2 { font-size: 18px; margin: 0 0 10px; }
        .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 18px 20px; margin-bottom: 18px; }
        .narrow { max-width: 420px; margin: 40px auto; }
        .meta, .hint { color: var(--muted); } .hint { font-size: 13px; }
        table { width: 100%; border-collapse: collapse; margin-top: 8px; }
        th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: middle; }
        th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        td form { margin: 0; }
        code { font: 13px ui-monospace, "DejaVu Sans Mono", monospace; }
        label { display: block; margin: 10px 0 4px; font-weight: 600; }
        label.check { font-weight: 400; display: inline-flex; gap: 6px; margin-right: 18px; }
        input[type=text], input[type=password], input:not([type]), textarea { width: 100%; padding: 7px 9px; border: 1px solid #b9c2ce; border-radius: 5px; font: inherit; }
        textarea { font: 13px ui-monospace, "DejaVu Sans Mono", monospace; }
        input.invalid, textarea.invalid { border-color: var(--bad); background: #fff6f5; }
        button { padding: 7px 14px; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 5px; font: inherit; cursor: pointer; margin-top: 12px; }
        button.secondary { background: #fff; color: var(--accent); }
        button.danger { background: #fff; color: var(--bad); border-color: var(--bad); margin-top: 0; padding: 3px 10px; }
        header.bar button { margin: 0; padding: 3px 10px; background: transparent; border-color: #8fa3bd; }
        .error { color: var(--bad); margin: 4px 0 0; font-size: 14px; }
        .notice { background: #e8f4ec; border: 1px solid #b7dcc3; color: var(--ok); padding: 8px 12px; border-radius: 6px; }
        .secret { background: #fff8e1; border: 1px solid #f0d58a; padding: 12px 14px; border-radius: 6px; margin-bottom: 18px; }
        .secret code { display: block; word-break: break-all; margin-top: 6px; font-size: 14px; }
        .tabs { display: flex; gap: 4px; margin: -6px 0 18px; border-bottom: 1px solid var(--line); }
        .tabs a { padding: 8px 14px; text-decoration: none; color: var(--muted); border-bottom: 2px solid transparent; }
        .tabs a.on { color: var(--fg); border-color: var(--accent); font-weight: 600; }
        .badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #e7ebf0; color: var(--muted); margin-left: 8px; }
        .badge.on { background: #e3efff; color: var(--accent); }
        .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 0 18px; }
        </style></head><body>
        <header class="bar"><a class="brand" href="/dashboard">cloudsync-server</a>
        {{#admin}}<nav><a href="/dashboard">Databases</a><a href="/dashboard/new">New database</a><a href="/dashboard/refused">Refused rows</a></nav>
        <form method="post" action="/dashboard/signout"><input type="hidden" name="csrf" value="{{csrf}}"><span>{{admin}}</span><button type="submit" id="sign-out">Sign out</button></form>{{/admin}}
        </header>
        <main>
        {{#notice}}<p class="notice" id="notice">{{notice}}</p>{{/notice}}
        """

    static let footer = """
        </main></body></html>
        """

    static let dbnav = """
        <h1>{{database}}</h1>
        <nav class="tabs">
        <a href="/dashboard/databases/{{database}}"{{#onOverview}} class="on"{{/onOverview}}>Overview</a>
        <a href="/dashboard/databases/{{database}}/devices"{{#onDevices}} class="on"{{/onDevices}}>Devices</a>
        <a href="/dashboard/databases/{{database}}/keys"{{#onKeys}} class="on"{{/onKeys}}>API keys &amp; tokens</a>
        <a href="/dashboard/databases/{{database}}/policies"{{#onPolicies}} class="on"{{/onPolicies}}>Row-Level Security</a>
        </nav>
        """

    static let signin = """
        {{> header}}
        <section class="card narrow"><h1>Sign in</h1>
        <form method="post" action="/dashboard/signin">
        <input type="hidden" name="csrf" value="{{signinCSRF}}">
        <label for="user">Administrator</label><input id="user" name="user" autocomplete="username" required value="{{user}}">
        <label for="password">Password</label><input id="password" type="password" name="password" autocomplete="current-password" required>
        {{#error}}<p class="error" id="signin-error">{{error}}</p>{{/error}}
        <button type="submit" id="sign-in">Sign in</button>
        </form>
        <p class="hint">Administrators are created on the server with <code>cloudsync-server admin create --user NAME</code>.</p>
        </section>
        {{> footer}}
        """

    static let message = """
        {{> header}}
        <section class="card"><h1>{{title}}</h1><p class="error" id="message">{{message}}</p><p><a href="/dashboard">Back to the databases</a></p></section>
        {{> footer}}
        """

    static let databases = """
        {{> header}}
        <h1>Databases</h1>
        {{^databases}}<section class="card"><p>No databases yet. <a href="/dashboard/new">Create the first one</a>.</p></section>{{/databases}}
        {{#databases}}
        <section class="card database"><h2><a href="/dashboard/databases/{{name}}">{{name}}</a></h2>
        <p class="meta">db_version {{dbVersion}} · {{size}} · {{synchronizedCount}} of {{tableCount}} tables synchronized</p>
        <table><thead><tr><th>Table</th><th>Synchronized</th><th class="num">Rows</th></tr></thead><tbody>
        {{#tables}}<tr><td>{{name}}</td><td>{{#synchronized}}yes{{/synchronized}}{{^synchronized}}no{{/synchronized}}</td><td class="num">{{rows}}</td></tr>{{/tables}}
        </tbody></table></section>
        {{/databases}}
        {{> footer}}
        """

    static let newDatabase = """
        {{> header}}
        <h1>New database</h1>
        <form method="post" action="/dashboard/new" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="name">Name</label><input id="name" name="name" value="{{name}}" placeholder="todo.sqlite" required{{#nameError}} class="invalid"{{/nameError}}>
        {{#nameError}}<p class="error" id="name-error">{{nameError}}</p>{{/nameError}}
        <label for="schema">Schema: CREATE TABLE statements</label>
        <textarea id="schema" name="schema" rows="9" required{{#schemaError}} class="invalid"{{/schemaError}}>{{schema}}</textarea>
        {{#schemaError}}<p class="error" id="schema-error">{{schemaError}}</p>{{/schemaError}}
        {{#hasTables}}
        <label>Tables to synchronize</label>
        <div id="tables">{{#tables}}<label class="check"><input type="checkbox" name="table" value="{{name}}"{{#checked}} checked{{/checked}}> {{name}}</label>{{/tables}}</div>
        {{#tablesError}}<p class="error" id="tables-error">{{tablesError}}</p>{{/tablesError}}
        <button type="submit" name="step" value="create" id="create-database">Create database</button>
        <button type="submit" name="step" value="tables" class="secondary">Read the schema again</button>
        {{/hasTables}}
        {{^hasTables}}<button type="submit" name="step" value="tables" id="choose-tables">Next: choose tables</button>{{/hasTables}}
        </form>
        {{> footer}}
        """

    static let database = """
        {{> header}}
        {{> dbnav}}
        <section class="card"><p class="meta">db_version {{dbVersion}} · {{size}} · {{deviceCount}} devices</p>
        <table><thead><tr><th>Table</th><th>Synchronized</th><th>Row-Level Security</th><th class="num">Rows</th></tr></thead><tbody>
        {{#tables}}<tr><td>{{name}}</td><td>{{#synchronized}}yes{{/synchronized}}{{^synchronized}}no{{/synchronized}}</td><td>{{#rls}}on{{/rls}}{{^rls}}off{{/rls}}</td><td class="num">{{rows}}</td></tr>{{/tables}}
        </tbody></table></section>
        {{> footer}}
        """

    static let devices = """
        {{> header}}
        {{> dbnav}}
        <section class="card"><p class="meta">The database is at db_version {{dbVersion}}. A device is behind by the versions it has not downloaded yet.</p>
        {{^devices}}<p>No device has synced yet.</p>{{/devices}}
        {{#hasDevices}}<table><thead><tr><th>Site id</th><th>User</th><th>Last seen (UTC)</th><th class="num">Downloaded up to</th><th>Behind</th></tr></thead><tbody>
        {{#devices}}<tr><td><code>{{site}}</code></td><td>{{user}}</td><td>{{lastSeen}}</td><td class="num">{{checked}}</td><td>{{behind}}</td></tr>{{/devices}}
        </tbody></table>{{/hasDevices}}
        </section>
        {{> footer}}
        """

    static let keys = """
        {{> header}}
        {{> dbnav}}
        {{#newKey}}<div class="secret" id="new-key"><strong>New API key for {{database}}.</strong> Copy it now: it is not shown again.<code id="new-key-value">{{newKey}}</code></div>{{/newKey}}
        {{#newToken}}<div class="secret" id="new-token"><strong>New access token for {{newTokenUser}}.</strong> Copy it now: it is not shown again.<code id="new-token-value">{{newToken}}</code></div>{{/newToken}}
        <section class="card"><h2>API keys</h2>
        <p class="hint">An API key is the administrator's credential for this database: it syncs everything, without Row-Level Security.</p>
        <form method="post" action="/dashboard/databases/{{database}}/keys"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" id="create-key">Create API key</button></form>
        {{#hasKeys}}<table id="keys"><thead><tr><th>Key (SHA-256)</th><th>Created (UTC)</th><th>Status</th><th></th></tr></thead><tbody>
        {{#keys}}<tr><td><code>{{short}}…</code></td><td>{{createdAt}}</td><td>{{status}}</td><td>{{^revoked}}<form method="post" action="/dashboard/databases/{{database}}/keys/revoke"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="hash" value="{{hash}}"><button type="submit" class="danger revoke-key">Revoke</button></form>{{/revoked}}</td></tr>{{/keys}}
        </tbody></table>{{/hasKeys}}
        </section>
        <section class="card"><h2>Access tokens</h2>
        <p class="hint">An access token is one user's credential: Row-Level Security applies to it.</p>
        <form method="post" action="/dashboard/databases/{{database}}/tokens">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <div class="grid"><div><label for="token-user">User id</label><input id="token-user" name="user" value="{{tokenUser}}" required{{#tokenError}} class="invalid"{{/tokenError}}></div>
        <div><label for="token-name">Display name (optional)</label><input id="token-name" name="name" value="{{tokenName}}"></div>
        <div><label for="token-attributes">Attributes (JSON object)</label><input id="token-attributes" name="attributes" value="{{tokenAttributes}}"></div>
        <div><label for="token-expires">Expires after (seconds, empty: never)</label><input id="token-expires" name="expires" value="{{tokenExpires}}"></div></div>
        {{#tokenError}}<p class="error" id="token-error">{{tokenError}}</p>{{/tokenError}}
        <button type="submit" id="issue-token">Issue token</button></form>
        {{#hasTokens}}<table id="tokens"><thead><tr><th>Token id</th><th>User</th><th>Name</th><th>Expires</th><th>Created (UTC)</th><th>Status</th><th></th></tr></thead><tbody>
        {{#tokens}}<tr><td><code>{{shortID}}…</code></td><td>{{user}}</td><td>{{name}}</td><td>{{expires}}</td><td>{{createdAt}}</td><td>{{status}}</td><td>{{^revoked}}<form method="post" action="/dashboard/databases/{{database}}/tokens/revoke"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="token_id" value="{{tokenID}}"><button type="submit" class="danger">Revoke</button></form>{{/revoked}}</td></tr>{{/tokens}}
        </tbody></table>{{/hasTokens}}
        </section>
        {{> footer}}
        """

    static let policies = """
        {{> header}}
        {{> dbnav}}
        <p class="hint">Policies apply to access-token users. Write each as a SQL expression over the table's columns (NEW.col and OLD.col in write policies), auth_userid() and auth_json(). An empty field denies that operation.</p>
        {{#tables}}
        <section class="card policy" id="policy-{{table}}"><h2>{{table}}{{#enabled}}<span class="badge on">RLS on</span>{{/enabled}}{{^enabled}}<span class="badge">RLS off</span>{{/enabled}}</h2>
        <form method="post" action="/dashboard/databases/{{database}}/policies">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="table" value="{{table}}">
        <div class="grid">{{#fields}}<div><label for="{{table}}-{{operation}}">{{operation}} <span class="hint">{{purpose}}</span></label><input id="{{table}}-{{operation}}" name="{{operation}}" value="{{value}}" placeholder="empty: denied"{{#error}} class="invalid"{{/error}}>
        {{#error}}<p class="error" id="error-{{table}}-{{operation}}">{{error}}</p>{{/error}}</div>{{/fields}}</div>
        {{#tableError}}<p class="error" id="error-{{table}}">{{tableError}}</p>{{/tableError}}
        <button type="submit" name="action" value="save" id="save-{{table}}">Save policies</button>
        {{#enabled}}<button type="submit" name="action" value="disable" class="secondary">Turn Row-Level Security off</button>{{/enabled}}
        </form></section>
        {{/tables}}
        {{> footer}}
        """

    static let refused = """
        {{> header}}
        <h1>Recent refused rows</h1>
        <section class="card"><p class="hint">Rows that Row-Level Security refused in uploads, newest first (the last {{retained}} uploads with refusals are kept).</p>
        {{^events}}<p>No row has been refused.</p>{{/events}}
        {{#hasEvents}}<table><thead><tr><th>When (UTC)</th><th>Database</th><th>Table</th><th>User</th><th>Site id</th><th class="num">Rows</th></tr></thead><tbody>
        {{#events}}<tr><td>{{at}}</td><td><a href="/dashboard/databases/{{database}}">{{database}}</a></td><td>{{table}}</td><td>{{userID}}</td><td><code>{{site}}</code></td><td class="num">{{rows}}</td></tr>{{/events}}
        </tbody></table>{{/hasEvents}}
        </section>
        {{> footer}}
        """
}
