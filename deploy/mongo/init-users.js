// docker-compose: run by mongo:7 once, on the first start of an empty data volume
// (/docker-entrypoint-initdb.d), as the root user. One user per service database, readWrite on that
// database only (DESIGN.md §3: no service reads another's database); passwords from the environment.
for (const name of ["members", "disclosure", "voting", "congress", "proposals", "notify", "audit", "surveys"]) {
  const key = "MONGO_PASSWORD_" + name.toUpperCase();
  const pwd = process.env[key];
  if (!pwd) throw new Error(key + " is not set");
  db.getSiblingDB(name).createUser({ user: name, pwd: pwd, roles: [{ role: "readWrite", db: name }] });
}
