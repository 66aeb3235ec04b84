// Drives Engage's JS SDK (@engage_so/core) as published against a sandbox: only the URL its
// HTTP layer (cross-fetch) is handed is rewritten from Engage's root to SANDBOX_URL.
// The key-only steps run first: once given a secret, this SDK version keeps it through a
// later init(key).
// Each step prints one JSON line: [name, answer]. Run by tests/e2e/test_sdks.py.
const Module = require('module')
const realLoad = Module._load
const ROOT = 'https://api.engage.so/v1'
Module._load = function (request, parent, isMain) {
  const loaded = realLoad.apply(this, arguments)
  if (request !== 'cross-fetch') return loaded
  const realFetch = loaded.default || loaded
  const rewritten = (url, options) => realFetch(String(url).replace(ROOT, process.env.SANDBOX_URL), options)
  rewritten.default = rewritten
  return rewritten
}
const Engage = require('@engage_so/core')
const [ID, SID, GID] = JSON.parse(process.env.IDS)
const steps = [
  ['init key only', () => Engage.init(process.env.KEY)],
  ['key-only identify with email', () => Engage.identify({ id: 'new@x.io', email: 'new@x.io', first_name: 'K' })],
  ['key-only track', () => Engage.track('new@x.io', 'signed_up')],
  ['key-only addToAccount', () => Engage.addToAccount('new@x.io', GID, 'Admin')],
  ['key-only change email', () => Engage.addAttribute('new@x.io', { email: 'other@x.io' })],
  ['init wrong credentials', () => Engage.init({ key: 'wrong', secret: 'wrong' })],
  ['identify with wrong credentials', () => Engage.identify({ id: ID, email: 'a@b.co' })],
  ['init', () => Engage.init({ key: process.env.KEY, secret: process.env.SECRET })],
  ['addAttribute', () => Engage.addAttribute(SID, { first_name: 'Opeyemi', active: true, created_at: '2020-08-11' })],
  ['addAttribute is_account true', () => Engage.addAttribute(ID, { is_account: true })],
  ['addAttribute is_account false', () => Engage.addAttribute(ID, { is_account: false })],
  ['track string', () => Engage.track(ID, 'loggedin')],
  ['track value', () => Engage.track(ID, { event: 'played', value: 'vid_133', timestamp: '2020-05-30T09:30:10Z' })],
  ['track properties', () => Engage.track(ID, { event: 'loggedin', properties: { ip: '127.0.0.1', referral: 'localhost' } })],
  ['merge', () => Engage.request('/users/merge', { source: SID, destination: ID }, 'POST')],
  ['convertToAccount', () => Engage.convertToAccount(GID)],
  ['convertToCustomer', () => Engage.convertToCustomer(GID)],
  ['addToAccount', () => Engage.addToAccount(ID, GID)],
  ['changeAccountRole', () => Engage.changeAccountRole(ID, GID, 'owner')],
  ['removeFromAccount', () => Engage.removeFromAccount(ID, GID)],
  ['identify id only', () => Engage.identify({ id: GID })],
  ['identify with email', () => Engage.identify({ id: ID, email: 'fickledreams@yahoo.com' })],
  ['identify is_account true', () => Engage.identify({ id: ID, is_account: true })],
  ['identify is_account false', () => Engage.identify({ id: ID, is_account: false })],
  ['identify device', () => Engage.identify({ id: 'mobile-1', device_token: 'tok-1', device_platform: 'ios', plan: 'pro' })],
]
;(async () => {
  for (const [name, step] of steps) {
    let answer
    try {
      answer = (await step()) ?? null
    } catch (e) {
      answer = { thrown: String(e) }
    }
    process.stdout.write(JSON.stringify([name, answer]) + '\n')
  }
})()
