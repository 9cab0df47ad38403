// Where the data lives: the SQLite path, and the MongoDB database a connection
// string names (the service and the CLI both ask mongoDatabaseName).
import { join } from 'node:path'
import t from 'tap'
import { DEFAULT_MONGODB_DATABASE, mongoDatabaseName, sqliteFile } from '../../src/store/location.js'

t.test('the MongoDB database: named in the URL, else the default', async (t) => {
  t.equal(DEFAULT_MONGODB_DATABASE, 'token-orchestrator')
  const cases: Array<[string, string]> = [
    ['mongodb://localhost:27017', 'token-orchestrator'],
    ['mongodb://localhost:27017/', 'token-orchestrator'],
    ['mongodb://localhost', 'token-orchestrator'],
    ['mongodb://localhost:27017/tokens', 'tokens'],
    ['mongodb://localhost:27017/?replicaSet=rs0', 'token-orchestrator'],
    ['mongodb://localhost:27017?directConnection=true', 'token-orchestrator'],
    ['mongodb://localhost:27017/tokens?replicaSet=rs0&w=majority', 'tokens'],
    ['mongodb://a.example:27017,b.example:27018,c.example:27019/prod?replicaSet=rs0', 'prod'],
    ['mongodb://a.example:27017,b.example:27018/?replicaSet=rs0', 'token-orchestrator'],
    ['mongodb://user:p%40ss%2Fword@db.example:27017/auth-db?authSource=admin', 'auth-db'],
    ['mongodb://user:p%40ss@db.example:27017', 'token-orchestrator'],
    ['mongodb://db.example/?authSource=admin/other', 'token-orchestrator'],
    ['mongodb+srv://cluster0.example.mongodb.net', 'token-orchestrator'],
    ['mongodb+srv://cluster0.example.mongodb.net/', 'token-orchestrator'],
    ['mongodb+srv://user:secret@cluster0.example.mongodb.net/tokens?retryWrites=true&w=majority', 'tokens'],
    ['mongodb://localhost/my%20db', 'my db']
  ]
  for (const [url, expected] of cases) t.equal(mongoDatabaseName(url), expected, url)
  t.equal(mongoDatabaseName('mongodb://localhost', 'other'), 'other', 'the default can be given')
})

t.test('the SQLite file: relative to the working directory, :memory: as is', async (t) => {
  t.equal(sqliteFile('data/token-orchestrator.sqlite', '/srv/app'), join('/srv/app', 'data', 'token-orchestrator.sqlite'))
  t.equal(sqliteFile('/var/lib/tokens.sqlite', '/srv/app'), '/var/lib/tokens.sqlite')
  t.equal(sqliteFile(':memory:', '/srv/app'), ':memory:')
  t.equal(sqliteFile('x.sqlite'), join(process.cwd(), 'x.sqlite'), 'default: the process\'s working directory')
})
