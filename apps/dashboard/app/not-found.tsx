export default function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no such page or sweep here. The <a href="/">sweeps list</a> shows every stored sweep; a sweep
        is named by its id or a unique prefix of it.
      </p>
    </section>
  );
}
